/**
 * ETA maths: pure functions of run history, the queue's state, position and progress. No I/O; the
 * clock is an argument.
 *
 * ## A model of how the queue is SERVED (not of how jobs arrive)
 * From the queue's recent completed runs (`[finishedAt − duration, finishedAt]`, every workflow):
 * - `slots`: the most runs seen overlapping at once (every worker × its concurrency), or the jobs
 *   active now if more;
 * - `meanRunMs`: the mean run time (what the jobs ahead of a job cost on average, whatever their type);
 * - `gapMs`: the median gap between a run's end and the next run's start when that start came right
 *   after (within a tenth of a mean run): the worker's own cost per job while the queue is backlogged.
 * So each slot serves one job per `cycle = meanRunMs + gapMs`, whatever the arrival rate was.
 *
 * - Queued job at position `p`: slot `k` frees at `r_k + gapMs`, where `r_k` is the expected
 *   remaining time of the job it runs now (the mean of `d − elapsed` over past runs longer than its
 *   elapsed time; 0 for an idle slot), then every `cycle`. The job starts when the `p`-th slot frees
 *   (exact for this deterministic schedule, by bisection), and ends one median run of ITS workflow
 *   later. No ETA while the queue is paused or rate-limited, when nothing runs and nothing finished
 *   within `throughputWindowMs` (no worker), without enough history, or beyond `etaMaxMs`.
 * - Delayed job (BullMQ `delayed`, Seenn `pending`): starts at the later of its run-at time and the
 *   time the jobs queued now are served, then one median run.
 * - Running job: the history's median remaining time GIVEN the time already spent (the median of the
 *   past runs longer than the elapsed time, minus it), blended with the progress extrapolation
 *   `elapsed · (100 − p) / p` with weight `p / 100` once `p ≥ 5`.
 *
 * ## `confidence`: the chance of landing within ±20 % of the time left
 * (What clients get as `etaConfidence` is this value CALIBRATED against the queue's real outcomes:
 * see `calibration.ts`. Here, the model's own estimate.)
 * `confidence` (0–1) is the model's probability that the job finishes within ±20 % of the time left
 * it predicts (`|actual − eta| ≤ 0.2 · (eta − now)`), so among many predictions given confidence
 * ≈ c, about a share c should land within ±20 % (`bench/eta.ts` prints that calibration table):
 * - the job's own run: the share of its workflow's past runs (given the time spent, for a running
 *   job) inside the band;
 * - the wait before it starts (queued and delayed jobs): normal, with the variance of the run times
 *   ahead (`(p − 1) · σ² / slots²`, plus the current runs' remainders) and 10 % model error;
 * - shrunk toward 0 with few samples: `× n / (n + 2)`.
 * `basedOn` is the number of run durations of the job's workflow used.
 */

/** An estimated completion time. */
export interface Eta {
  /** Epoch ms. */
  atMs: number;
  /**
   * 0–1, two decimals: the chance of landing within ±20 % of the time left. From the model (this
   * file), or, once laid over a job (`view.ts`), calibrated against the queue's outcomes.
   */
  confidence: number;
  /** The model's own confidence, when `confidence` was calibrated (what predictions are recorded and bucketed by). */
  modelConfidence?: number;
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
  return {
    sorted,
    count: sorted.length,
    p10: quantile(sorted, 0.1),
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
  };
}

/**
 * The completion rate over the window ending at `nowMs`: `(k − 1) ÷ (now − oldest)` for the `k`
 * completions inside it. Counting up to `now` (not to the newest completion) makes the rate fall when
 * a queue stops finishing jobs. `null` with fewer than `minSamples` completions in the window.
 */
export function throughputOf(
  finishedAtMs: readonly number[],
  nowMs: number,
  windowMs: number,
  minSamples: number,
): Throughput | null {
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

/** One completed run of a queue (see `QueueRun` in history.ts). */
export interface Run {
  finishedAtMs: number;
  durationMs: number;
}

/** How fast a queue is served, learned from its recent completed runs (see the module comment). */
export interface ServiceModel {
  /** Jobs the queue's workers run at once (the most runs seen overlapping). */
  slots: number;
  /** Mean run time of the queue's recent runs, every workflow, ms. */
  meanRunMs: number;
  /** Standard deviation of those run times, ms. */
  sdRunMs: number;
  /** Median gap between a run's end and the next start when the queue was backlogged, ms. */
  gapMs: number;
  /** Run times ascending (for the remaining time of the runs in progress). */
  sorted: number[];
  /** The newest finish time, epoch ms. */
  lastFinishedAtMs: number;
}

/**
 * The service model of a queue from its recent completed runs, or `null` with fewer than
 * `minSamples` of them.
 */
export function serviceModelOf(runs: readonly Run[], minSamples: number): ServiceModel | null {
  const valid = runs.filter(
    (run) => Number.isFinite(run.finishedAtMs) && Number.isFinite(run.durationMs) && run.durationMs >= 0,
  );
  if (valid.length < Math.max(1, minSamples)) return null;
  const sorted = valid.map((run) => run.durationMs).sort((a, b) => a - b);
  const meanRunMs = sorted.reduce((sum, d) => sum + d, 0) / sorted.length;
  const sdRunMs = Math.sqrt(sorted.reduce((sum, d) => sum + (d - meanRunMs) ** 2, 0) / sorted.length);
  // Most runs overlapping: a sweep over starts (+1) and ends (−1), ends first on a tie (a slot freed
  // and taken again in the same millisecond is one slot).
  const events: [number, number][] = [];
  for (const run of valid) events.push([run.finishedAtMs - run.durationMs, 1], [run.finishedAtMs, -1]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let running = 0;
  let slots = 1;
  for (const [, step] of events) {
    running += step;
    if (running > slots) slots = running;
  }
  // The gap from the latest end before each start to that start, when it is short (a backlogged
  // worker taking its next job), not an idle wait for work.
  const finishes = valid.map((run) => run.finishedAtMs).sort((a, b) => a - b);
  const gaps: number[] = [];
  const gapCap = 0.1 * meanRunMs;
  for (const run of valid) {
    const start = run.finishedAtMs - run.durationMs;
    let lo = 0;
    let hi = finishes.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((finishes[mid] as number) <= start) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) continue;
    const gap = start - (finishes[found] as number);
    if (gap >= 0 && gap <= gapCap) gaps.push(gap);
  }
  const gapMs =
    gaps.length === 0
      ? 0
      : quantile(
          gaps.sort((a, b) => a - b),
          0.5,
        );
  return { slots, meanRunMs, sdRunMs, gapMs, sorted, lastFinishedAtMs: finishes[finishes.length - 1] as number };
}

/** The queue's state now, as the position script reads it. */
export interface QueueState {
  /** The queue is paused: no ETA. */
  paused: boolean;
  /** Ms until the rate limit lets workers take jobs again (0 = not limited); limited: no ETA. */
  rateLimitedMs: number;
  /** Jobs active now. */
  active: number;
  /** When the active jobs started (BullMQ `processedOn`), epoch ms, as many as known. */
  activeStartedAtMs: readonly number[];
}

/** The expected remaining time of a run `elapsedMs` in (the mean of `d − elapsed` over longer runs). */
export function expectedRemainingMs(sorted: readonly number[], elapsedMs: number): number {
  let sum = 0;
  let count = 0;
  for (let i = sorted.length - 1; i >= 0 && (sorted[i] as number) > elapsedMs; i -= 1) {
    sum += (sorted[i] as number) - elapsedMs;
    count += 1;
  }
  // Longer than every past run: about to end, as far as history knows.
  return count === 0 ? 0 : sum / count;
}

/** When each slot frees, ms from now: the runs in progress first, then idle slots (0), plus the gap. */
function slotFrees(service: ServiceModel, state: QueueState, nowMs: number): number[] {
  const slots = Math.max(service.slots, state.active);
  const frees: number[] = [];
  // A run whose start is unknown: the mean residual life of a run, E[d²] / (2 E[d]).
  const meanSquare = service.sorted.reduce((sum, d) => sum + d * d, 0) / service.sorted.length;
  const unknown = service.meanRunMs > 0 ? meanSquare / (2 * service.meanRunMs) : 0;
  for (let k = 0; k < state.active; k += 1) {
    const startedAt = state.activeStartedAtMs[k];
    frees.push(
      (startedAt === undefined ? unknown : expectedRemainingMs(service.sorted, Math.max(0, nowMs - startedAt))) +
        service.gapMs,
    );
  }
  while (frees.length < slots) frees.push(service.gapMs);
  return frees;
}

/** The `n`-th (1-based) smallest of `{ frees[k] + m · cycle }`: when the `n`-th next job starts, ms from now. */
export function nthStartMs(frees: readonly number[], cycleMs: number, n: number): number {
  if (frees.length === 0) return Number.POSITIVE_INFINITY;
  const cycle = Math.max(cycleMs, 1e-6);
  const count = (t: number): number => {
    let c = 0;
    for (const f of frees) if (t >= f) c += Math.floor((t - f) / cycle) + 1;
    return c;
  };
  let lo = 0;
  let hi = Math.max(...frees) + Math.ceil(n / frees.length) * cycle;
  if (count(lo) >= n) return lo;
  for (let i = 0; i < 64 && hi - lo > 0.25; i += 1) {
    const mid = (lo + hi) / 2;
    if (count(mid) >= n) hi = mid;
    else lo = mid;
  }
  // The n-th event lies in (lo, hi]: the latest event at or before hi is it (to within 0.25 ms).
  let event = 0;
  for (const f of frees) if (hi >= f) event = Math.max(event, f + Math.floor((hi - f) / cycle) * cycle);
  return event;
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7). */
function phi(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** The share of relative band: P(|wait + own − predicted| ≤ 0.2 · predicted), wait ~ N(waitMean, waitSd²), own ~ the samples. */
function bandShare(predictedMs: number, waitMeanMs: number, waitSdMs: number, ownSamples: readonly number[]): number {
  if (ownSamples.length === 0 || predictedMs <= 0) return 0;
  const lo = 0.8 * predictedMs;
  const hi = 1.2 * predictedMs;
  let sum = 0;
  for (const own of ownSamples) {
    const center = waitMeanMs + own;
    if (waitSdMs <= 0) sum += center >= lo && center <= hi ? 1 : 0;
    else sum += phi((hi - center) / waitSdMs) - phi((lo - center) / waitSdMs);
  }
  return sum / ownSamples.length;
}

/** Model error assumed on a wait (slots, gap and mix change), as a share of it. */
const MODEL_ERROR = 0.1;

function shrink(share: number, samples: number): number {
  return share * (samples / (samples + 2));
}

/** Inputs of {@link queuedEta}. */
export interface QueuedEtaInput {
  nowMs: number;
  /** 1-based queue position. */
  position: number;
  /** Run durations of the job's own workflow in this queue. */
  durations: DurationStats | null;
  /** How the queue is served. */
  service: ServiceModel | null;
  /** The queue now. */
  state: QueueState;
}

function servable(
  input: { nowMs: number; durations: DurationStats | null; service: ServiceModel | null; state: QueueState },
  settings: EtaSettings,
): input is { nowMs: number; durations: DurationStats; service: ServiceModel; state: QueueState } {
  const { durations, service, state } = input;
  if (state.paused || state.rateLimitedMs > 0) return false;
  if (durations === null || durations.count < settings.etaMinSamples || service === null) return false;
  // Nothing runs and nothing finished for a long time: no worker serves this queue.
  if (state.active === 0 && service.lastFinishedAtMs < input.nowMs - settings.throughputWindowMs) return false;
  return true;
}

/** An ETA from the wait before the job starts (mean, sd) and its own run. */
function etaFrom(
  nowMs: number,
  waitMs: number,
  waitVarianceMs2: number,
  durations: DurationStats,
  settings: EtaSettings,
): Eta | null {
  const remainingMs = waitMs + durations.p50;
  if (!Number.isFinite(remainingMs) || remainingMs > settings.etaMaxMs) return null;
  const waitSd = Math.sqrt(waitVarianceMs2 + (MODEL_ERROR * waitMs) ** 2);
  const confidence = shrink(bandShare(remainingMs, waitMs, waitSd, durations.sorted), durations.count);
  return { atMs: Math.round(nowMs + remainingMs), confidence: round2(confidence), basedOn: durations.count };
}

/** The variance of the wait of the `n`-th next job to start: the runs ahead, spread over the slots, and the runs in progress. */
function waitVariance(service: ServiceModel, slots: number, n: number): number {
  const variance = service.sdRunMs ** 2;
  return (Math.max(0, n - 1) * variance) / (slots * slots) + variance / slots;
}

/** The ETA of a queued job, or `null` when it would be a guess (see the module comment). */
export function queuedEta(input: QueuedEtaInput, settings: EtaSettings): Eta | null {
  if (!servable(input, settings)) return null;
  const { service, state, durations } = input;
  const frees = slotFrees(service, state, input.nowMs);
  const waitMs = nthStartMs(frees, service.meanRunMs + service.gapMs, input.position);
  return etaFrom(input.nowMs, waitMs, waitVariance(service, frees.length, input.position), durations, settings);
}

/** Inputs of {@link delayedEta}. */
export interface DelayedEtaInput {
  nowMs: number;
  /** When BullMQ may promote the job, epoch ms. */
  runAtMs: number;
  /** Jobs queued now (they run before it, as far as anyone knows). */
  queued: number;
  durations: DurationStats | null;
  service: ServiceModel | null;
  state: QueueState;
}

/** The ETA of a delayed job: the later of its run-at time and the time the queued jobs are served, then its run. */
export function delayedEta(input: DelayedEtaInput, settings: EtaSettings): Eta | null {
  if (!servable(input, settings)) return null;
  const { service, state, durations } = input;
  const frees = slotFrees(service, state, input.nowMs);
  const served = nthStartMs(frees, service.meanRunMs + service.gapMs, input.queued + 1);
  const delayMs = Math.max(0, input.runAtMs - input.nowMs) + service.gapMs;
  const waitMs = Math.max(served, delayMs);
  const variance = served >= delayMs ? waitVariance(service, frees.length, input.queued + 1) : 0;
  return etaFrom(input.nowMs, waitMs, variance, durations, settings);
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
