/**
 * The derived part of a job (its `queue` and computed ETA) and how it is laid over a stored job.
 * Never stored: computed on read and by the watcher.
 */
import { isoTime, type QueueInfo, type SeennJob } from '../model/job.js';
import { Calibration, etaKindOf, type EtaKind } from './calibration.js';
import {
  delayedEta,
  durationStats,
  queuedEta,
  runningEta,
  serviceModelOf,
  type DurationStats,
  type Eta,
  type EtaSettings,
  type ServiceModel,
} from './eta.js';
import type { History } from './history.js';
import { queueInfoOf, type JobPlace, type QueueSnapshot } from './lookup.js';

/** What is derived for one job. */
export interface PositionView {
  /** The job's place in its queue (queued jobs only). */
  queue?: QueueInfo;
  /** A computed ETA (only when the job has no explicit `estimatedCompletionAt`). */
  eta?: Eta;
}

/** The ETA key of a job: its `workflowId`, else its `jobType`. */
export function workflowOf(job: SeennJob): string {
  return job.workflowId ?? job.jobType;
}

/**
 * Whether a computed ETA may be given to `job` (queued, running, or pending: a delayed BullMQ job
 * gets one once the lookup finds it in `delayed`): the backend's own `estimatedCompletionAt` wins.
 */
export function wantsEta(job: SeennJob): boolean {
  return (
    job.estimatedCompletionAt === undefined &&
    (job.status === 'queued' || job.status === 'running' || job.status === 'pending')
  );
}

/** Duration stats per queue and workflow, computed once per history read. */
export class HistoryStats {
  private readonly stats = new Map<string, DurationStats | null>();

  /** @param history - the history read */
  constructor(readonly history: History) {}

  /** The stats of one workflow's run durations in one queue (or without a queue), or `null` without any. */
  durations(queueName: string | undefined, workflowId: string): DurationStats | null {
    const key = `${queueName ?? ''}\n${workflowId}`;
    const samples =
      queueName === undefined
        ? this.history.workflows.get(workflowId)
        : this.history.queues.get(queueName)?.durations.get(workflowId);
    if (!this.stats.has(key)) this.stats.set(key, durationStats(samples ?? []));
    return this.stats.get(key) ?? null;
  }

  private readonly services = new Map<string, ServiceModel | null>();
  private readonly calibrations = new Map<string, Calibration | null>();

  /** The `etaConfidence` calibration of one kind of ETA in a queue, or `null` before any such prediction was scored. */
  calibration(queueName: string, kind: EtaKind, priorSamples: number): Calibration | null {
    const key = `${kind}\n${queueName}`;
    if (!this.calibrations.has(key)) {
      const histogram = this.history.queues.get(queueName)?.calibration[kind] ?? null;
      this.calibrations.set(key, histogram === null ? null : new Calibration(histogram, priorSamples));
    }
    return this.calibrations.get(key) ?? null;
  }

  /** How a queue is served (see `eta.ts`), or `null` with too little history. */
  service(queueName: string, minSamples: number): ServiceModel | null {
    if (!this.services.has(queueName))
      this.services.set(queueName, serviceModelOf(this.history.queues.get(queueName)?.runs ?? [], minSamples));
    return this.services.get(queueName) ?? null;
  }
}

/** What {@link computeView} needs: the ETA model's settings and the calibration's. */
export interface ViewSettings extends EtaSettings {
  /** Calibrate confidences against the queue's outcomes (`PositionOptions.etaCalibration`). */
  etaCalibration: boolean;
  /** `PositionOptions.etaCalibrationPriorSamples`. */
  etaCalibrationPriorSamples: number;
}

/**
 * `eta` with its confidence calibrated against the queue's outcomes (when on and the queue has any),
 * keeping the model's own value in `modelConfidence`. Jobs without a queue keep the model's value.
 */
function calibrated(
  eta: Eta,
  job: SeennJob,
  queueName: string | undefined,
  stats: HistoryStats,
  settings: ViewSettings,
): Eta {
  const calibration =
    settings.etaCalibration && queueName !== undefined
      ? stats.calibration(queueName, etaKindOf(job.status), settings.etaCalibrationPriorSamples)
      : null;
  return {
    ...eta,
    confidence: calibration === null ? eta.confidence : calibration.map(eta.confidence),
    modelConfidence: eta.confidence,
  };
}

/**
 * The view of `job`: its queue place (when queued and placed) and an ETA (queued, delayed or running,
 * when it has no explicit one and history allows).
 * @param job - the stored job
 * @param queueName - the BullMQ queue the job runs in (its history is kept per queue); undefined for a Seenn-only job
 * @param placed - the queue snapshot and the job's place in it, when it was looked up
 * @param stats - history, when read (no ETA without it)
 * @param nowMs - the clock
 * @param settings - ETA and calibration settings
 */
export function computeView(
  job: SeennJob,
  queueName: string | undefined,
  placed: { snapshot: QueueSnapshot; place: JobPlace } | null,
  stats: HistoryStats | null,
  nowMs: number,
  settings: ViewSettings,
): PositionView {
  const view: PositionView = {};
  if (job.status === 'queued' && placed !== null) {
    const queue = queueInfoOf(placed.snapshot, placed.place);
    if (queue !== undefined) {
      view.queue = queue;
      if (stats !== null && wantsEta(job)) {
        const name = placed.snapshot.queueName;
        const eta = queuedEta(
          {
            nowMs,
            position: queue.position,
            durations: stats.durations(name, workflowOf(job)),
            service: stats.service(name, settings.etaMinSamples),
            state: placed.snapshot,
          },
          settings,
        );
        if (eta !== null) view.eta = calibrated(eta, job, name, stats, settings);
      }
    }
  } else if (
    job.status === 'pending' &&
    placed !== null &&
    placed.place.state === 'delayed' &&
    stats !== null &&
    wantsEta(job)
  ) {
    const name = placed.snapshot.queueName;
    const eta = delayedEta(
      {
        nowMs,
        runAtMs: placed.place.runAtMs,
        queued: placed.snapshot.total,
        durations: stats.durations(name, workflowOf(job)),
        service: stats.service(name, settings.etaMinSamples),
        state: placed.snapshot,
      },
      settings,
    );
    if (eta !== null) view.eta = calibrated(eta, job, name, stats, settings);
  } else if (job.status === 'running' && stats !== null && wantsEta(job) && job.startedAt !== undefined) {
    const eta = runningEta(
      {
        nowMs,
        startedAtMs: Date.parse(job.startedAt),
        progress: job.progress,
        durations: stats.durations(queueName, workflowOf(job)),
      },
      settings,
    );
    if (eta !== null) view.eta = calibrated(eta, job, queueName, stats, settings);
  }
  return view;
}

/** A copy of `job` with `view` laid over it (a computed `queue` replaces a stored one). */
export function applyView(job: SeennJob, view: PositionView): SeennJob {
  const out: SeennJob = { ...job };
  if (view.queue !== undefined) out.queue = view.queue;
  if (view.eta !== undefined && job.estimatedCompletionAt === undefined) {
    out.estimatedCompletionAt = isoTime(view.eta.atMs);
    out.etaConfidence = view.eta.confidence;
    out.etaBasedOn = view.eta.basedOn;
  }
  return out;
}

/**
 * Whether two views differ enough to tell a client: any change of `queue`, an ETA appearing or
 * disappearing, or an ETA moving by more than a tenth of the time left (and at least a second).
 */
export function viewChanged(before: PositionView | undefined, after: PositionView, nowMs: number): boolean {
  const a = before?.queue;
  const b = after.queue;
  if (a?.position !== b?.position || a?.total !== b?.total || a?.state !== b?.state || a?.queueName !== b?.queueName)
    return true;
  const x = before?.eta;
  const y = after.eta;
  if (x === undefined || y === undefined) return x !== y;
  const tolerance = Math.max(1_000, 0.1 * Math.max(0, y.atMs - nowMs));
  return Math.abs(x.atMs - y.atMs) > tolerance;
}
