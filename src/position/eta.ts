/**
 * ETA maths: pure functions of run history, queue throughput, position and progress. No I/O; the
 * clock is an argument.
 *
 * - Queued job: `now + position ÷ throughput + median run time`, where throughput is the queue's
 *   recent completion rate. No ETA while the queue is paused, without enough history, or when the
 *   answer lies beyond `etaMaxMs`.
 * - Running job: the history's median remaining time GIVEN the time already spent (the median of the
 *   past runs longer than the elapsed time, minus it), blended with the progress extrapolation
 *   `elapsed · (100 − p) / p` with weight `p / 100` once `p ≥ 5`.
 * - `confidence` (0–1) grows with the samples (`min(1, n / etaFullConfidenceSamples)`) and falls with
 *   the spread of run times (`÷ (1 + (p90 − p10) / p50)`); for queued jobs it is multiplied by the
 *   same sample factor of the throughput. `basedOn` is the number of run durations used.
 */

/** An estimated completion time. */
export interface Eta {
  /** Epoch ms. */
  atMs: number;
  /** 0–1, two decimals. */
  confidence: number;
  /** Run durations the estimate used. */
  basedOn: number;
}

/** The settings the maths needs (a subset of the resolved position options). */
export interface EtaSettings {
  etaMinSamples: number;
  etaFullConfidenceSamples: number;
  throughputWindowMs: number;
  etaMaxMs: number;
}

/** Summary of a workflow's recent run durations. */
export interface DurationStats {
  /** Samples, ascending. */
  sorted: number[];
  count: number;
  p10: number;
  p50: number;
  p90: number;
}

/** A queue's recent completion rate. */
export interface Throughput {
  /** Jobs per ms. */
  perMs: number;
  /** Completions the rate is computed from. */
  samples: number;
}

/** The `q`-quantile (0–1) of ascending `sorted`, linearly interpolated; `sorted` must not be empty. */
export function quantile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  const high = Math.ceil(at);
  const a = sorted[low] as number;
  const b = sorted[high] as number;
  return a + (b - a) * (at - low);
}

/** Stats of run durations (ms), or `null` when there are none. Non-finite and negative samples are dropped. */
export function durationStats(durationsMs: readonly number[]): DurationStats | null {
  const sorted = durationsMs.filter((d) => Number.isFinite(d) && d >= 0).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  return { sorted, count: sorted.length, p10: quantile(sorted, 0.1), p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9) };
}

/**
 * The completion rate over the window ending at `nowMs`: `(k − 1) ÷ (now − oldest)` for the `k`
 * completions inside it. Counting up to `now` (not to the newest completion) makes the rate fall when
 * a queue stops finishing jobs. `null` with fewer than `minSamples` completions in the window.
 */
export function throughputOf(finishedAtMs: readonly number[], nowMs: number, windowMs: number, minSamples: number): Throughput | null {
  const recent = finishedAtMs.filter((t) => Number.isFinite(t) && t <= nowMs && t >= nowMs - windowMs);
  if (recent.length < Math.max(2, minSamples)) return null;
  const oldest = Math.min(...recent);
  const span = nowMs - oldest;
  if (span <= 0) return null;
  return { perMs: (recent.length - 1) / span, samples: recent.length };
}

function sampleFactor(count: number, settings: EtaSettings): number {
  return Math.min(1, count / settings.etaFullConfidenceSamples);
}

/** Confidence from run history alone: more samples and less spread give more. */
export function durationConfidence(stats: DurationStats, settings: EtaSettings): number {
  const spread = stats.p50 > 0 ? (stats.p90 - stats.p10) / stats.p50 : 0;
  return sampleFactor(stats.count, settings) / (1 + spread);
}

function round2(value: number): number {
  return Math.min(1, Math.max(0, Math.round(value * 100) / 100));
}

/** Inputs of {@link queuedEta}. */
export interface QueuedEtaInput {
  nowMs: number;
  /** 1-based queue position. */
  position: number;
  durations: DurationStats | null;
  throughput: Throughput | null;
  /** The queue is paused: no ETA. */
  paused: boolean;
}

/** The ETA of a queued job, or `null` when it would be a guess. */
export function queuedEta(input: QueuedEtaInput, settings: EtaSettings): Eta | null {
  const { durations, throughput } = input;
  if (input.paused || durations === null || durations.count < settings.etaMinSamples) return null;
  if (throughput === null || throughput.samples < settings.etaMinSamples || throughput.perMs <= 0) return null;
  const remainingMs = input.position / throughput.perMs + durations.p50;
  if (!Number.isFinite(remainingMs) || remainingMs > settings.etaMaxMs) return null;
  const confidence = durationConfidence(durations, settings) * sampleFactor(throughput.samples - 1, settings);
  return { atMs: Math.round(input.nowMs + remainingMs), confidence: round2(confidence), basedOn: durations.count };
}

/** Inputs of {@link runningEta}. */
export interface RunningEtaInput {
  nowMs: number;
  /** When the job started running, epoch ms. */
  startedAtMs: number;
  /** 0–100. */
  progress: number;
  durations: DurationStats | null;
}

/** Progress below this is too little to extrapolate from. */
export const MIN_PROGRESS_TO_EXTRAPOLATE = 5;

/** The ETA of a running job, or `null` when it would be a guess. */
export function runningEta(input: RunningEtaInput, settings: EtaSettings): Eta | null {
  const { durations } = input;
  if (durations === null || durations.count < settings.etaMinSamples) return null;
  const elapsed = Math.max(0, input.nowMs - input.startedAtMs);
  const longer = durations.sorted.filter((d) => d > elapsed);
  const fromHistory = longer.length > 0 ? quantile(longer, 0.5) - elapsed : null;
  const p = input.progress;
  const fromProgress = p >= MIN_PROGRESS_TO_EXTRAPOLATE && p < 100 && elapsed > 0 ? (elapsed * (100 - p)) / p : null;
  const historyConfidence = durationConfidence(durations, settings);
  let remainingMs: number;
  let confidence: number;
  if (fromHistory !== null && fromProgress !== null) {
    const w = p / 100;
    remainingMs = w * fromProgress + (1 - w) * fromHistory;
    confidence = (1 - w) * historyConfidence + w * (p / 100);
  } else if (fromHistory !== null) {
    remainingMs = fromHistory;
    confidence = historyConfidence * (longer.length / durations.count);
  } else if (fromProgress !== null) {
    // Longer than every past run: only the job's own progress speaks.
    remainingMs = fromProgress;
    confidence = historyConfidence * (p / 100);
  } else {
    return null;
  }
  if (!Number.isFinite(remainingMs) || remainingMs > settings.etaMaxMs) return null;
  return { atMs: Math.round(input.nowMs + remainingMs), confidence: round2(confidence), basedOn: durations.count };
}
