/**
 * The live part of queue positions: a {@link PositionWatcher} recomputes the positions (and ETAs) of
 * the queued jobs someone watches and emits the ones that changed, ready to send as `job.progress`.
 */
import { EventEmitter } from 'node:events';
import type { SeennJob } from '../model/job.js';
import { QUIT_GRACE_MS, settlesBy } from '../store/connection-set.js';
import type { JobStore } from '../store/job-store.js';
import { etaKindOf, PredictionRecorder } from './calibration.js';
import { readHistory, type HistoryWanted } from './history.js';
import { type JobPlace, type PositionHint, type QueueSnapshot } from './lookup.js';
import {
  resolvePositionWatcherOptions,
  type PositionWatcherOptions,
  type ResolvedPositionWatcherOptions,
} from './options.js';
import { lookupIn, type PositionSource } from './reader.js';
import { applyView, computeView, HistoryStats, viewChanged, wantsEta, workflowOf, type PositionView } from './view.js';

/** What a watcher needs: a {@link PositionSource} and where it reads the watched jobs' snapshots (a `SeennContext` has both). */
export interface PositionWatcherSource extends PositionSource {
  readonly store: Pick<JobStore, 'readMany'>;
}

/** A changed position, ready to send. */
export interface PositionUpdate {
  /** The job's user (whose streams should get it). */
  userId: string;
  /** The full job with its new `queue` (and computed ETA): send it as `job.progress`. */
  job: SeennJob;
  /** When it was emitted (the watcher's clock, epoch ms). */
  atMs: number;
}

/** What one tick did (for metrics and tests). */
export interface PositionTick {
  /** When the tick started (the watcher's clock). */
  atMs: number;
  /** Position script calls made (one per queue with due jobs). */
  queues: number;
  /** Jobs whose position was recomputed. */
  jobs: number;
  /** `wait`-list elements the scripts read with `LRANGE`. */
  elementsRead: number;
  /** Updates emitted. */
  emitted: number;
}

/** The events of a {@link PositionWatcher}. */
export interface PositionWatcherEvents {
  position: [PositionUpdate];
  tick: [PositionTick];
  error: [Error];
}

interface Entry {
  readonly userId: string;
  readonly jobId: string;
  refs: number;
  /** The newest job object known: from the store, or from {@link PositionWatcher.noteChange}. */
  job: SeennJob | null;
  queueName?: string;
  bullId?: string;
  loaded: boolean;
  hint?: PositionHint;
  /** What the client was last given. */
  sent: PositionView | undefined;
  /** BullMQ says the job is not waiting (active, delayed, …): no recomputing until its status changes. */
  parked: boolean;
  computedAtMs: number;
  emittedAtMs: number;
}

const NEVER = Number.NEGATIVE_INFINITY;

/**
 * Watches queued (and delayed) jobs for their users' streams. Only watched jobs are recomputed, each at most once
 * per `positionIntervalMs`; the due jobs of one queue are placed with ONE script call per tick (its
 * cost is documented in `store/lua/position-lookup.ts`), and each result is passed back as a hint that makes the
 * next lookup of that job cost one `LINDEX`. Only changed views are emitted, never two for one job
 * less than `positionIntervalMs` apart.
 *
 * Contract with the bridge:
 * 1. `watch(userId, jobId, known?)` when a client starts following a job (e.g. after its `job.sync`,
 *    passing the decorated job the client got as `known`); call the returned function when it stops.
 *    Watches are counted: one job watched by many clients is computed once.
 * 2. For every live job event the bridge forwards, send `noteChange(job)` instead of `job`: it
 *    updates the watcher's copy (so a position is never laid over an older state) and adds the last
 *    known position to a queued job, or a computed ETA to a running one.
 * 3. On `position`, send `update.job` as `job.progress` to `update.userId`'s streams that watch it.
 *    These events carry no replay id (positions are derived, never stored).
 *
 * Background errors are logged and emitted as `error` (only when someone listens); the loop goes on.
 *
 * @example
 * ```ts
 * const watcher = new PositionWatcher({ redis, keys, logger, store }, { positionIntervalMs: 1000 });
 * watcher.on('position', ({ userId, job }) => hub.send(userId, 'job.progress', job));
 * const stop = watcher.watch('u1', jobId, syncedJob);
 * // live event from the store:   hub.send(userId, name, watcher.noteChange(job));
 * stop();                         // the client went away
 * await watcher.close();
 * ```
 */
export class PositionWatcher extends EventEmitter<PositionWatcherEvents> {
  /** The resolved options. */
  readonly options: ResolvedPositionWatcherOptions;
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private wakeAtMs = Number.POSITIVE_INFINITY;
  private retryAtMs = NEVER;
  private running: Promise<void> | undefined;
  private closed = false;
  private stats: { stats: HistoryStats; atMs: number } | undefined;
  private readonly predictions: PredictionRecorder | null;

  /**
   * @param source - Redis, keys, logger, the job store's snapshot reads, optionally metrics
   * @param options - see {@link PositionWatcherOptions}; validated here (`CONFIG_INVALID`)
   */
  constructor(
    private readonly source: PositionWatcherSource,
    options: PositionWatcherOptions = {},
  ) {
    super();
    this.options = resolvePositionWatcherOptions(options);
    this.predictions = this.options.etaCalibration
      ? new PredictionRecorder(source.redis, source.keys, this.options)
      : null;
  }

  /** Jobs watched now. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Starts watching a job for `userId`. `known` is the job as the client has it (its position is
   * not sent again unless it changes). Returns the function that stops this watch (idempotent).
   */
  watch(userId: string, jobId: string, known?: SeennJob): () => void {
    if (this.closed) return () => undefined;
    const key = entryKey(userId, jobId);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = {
        userId,
        jobId,
        refs: 0,
        job: null,
        loaded: false,
        sent: undefined,
        parked: false,
        computedAtMs: NEVER,
        emittedAtMs: NEVER,
      };
      this.entries.set(key, entry);
    }
    entry.refs += 1;
    if (known !== undefined && known.userId === userId && known.id === jobId) {
      if (entry.job === null || known.updatedAt >= entry.job.updatedAt) entry.job = known;
      entry.sent ??= viewOf(known);
    }
    this.arm(this.dueAtMs(entry));
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      this.unwatch(key);
    };
  }

  /**
   * Tells the watcher about a job object the bridge is about to send (a live event), and returns it
   * with the derived fields the client should keep seeing: the last known `queue` (and ETA) while the
   * job is queued, or a computed ETA while it runs. Jobs not watched come back unchanged.
   */
  noteChange(job: SeennJob): SeennJob {
    const entry = this.entries.get(entryKey(job.userId, job.id));
    if (entry === undefined) return job;
    const before = entry.job;
    if (before !== null && job.updatedAt < before.updatedAt) return job;
    entry.job = job;
    if (before?.status !== job.status) {
      entry.parked = false;
      entry.sent = undefined;
      if (job.status !== 'queued') delete entry.hint;
      const historyDue =
        job.status === 'running' && wantsEta(job)
          ? (this.stats?.atMs ?? NEVER) + this.options.positionIntervalMs
          : Number.POSITIVE_INFINITY;
      this.arm(Math.min(this.dueAtMs(entry), historyDue));
    }
    let view: PositionView = {};
    if ((job.status === 'queued' || job.status === 'pending') && entry.sent !== undefined) view = entry.sent;
    else if (job.status === 'running' && wantsEta(job) && this.stats !== undefined) {
      const nowMs = this.options.now();
      view = computeView(job, entry.queueName, null, this.stats.stats, nowMs, this.options);
      // Recorded at the next tick (which a running job with an ETA keeps coming).
      this.notePrediction(entry, view, nowMs);
    }
    entry.sent = job.status === 'queued' || job.status === 'pending' ? entry.sent : view;
    return applyView(job, view);
  }

  /**
   * Stops the loop and forgets every watch; a tick in progress emits nothing more. Waits for that
   * tick at most the grace a QUIT gets (`QUIT_GRACE_MS`): a Redis that hangs never answers it, and the
   * close must not hang with it. Idempotent.
   */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.entries.clear();
    if (this.running !== undefined) await settlesBy(this.running, Date.now() + QUIT_GRACE_MS);
  }

  private unwatch(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    entry.refs -= 1;
    if (entry.refs <= 0) this.entries.delete(key);
  }

  /** The time an entry is next due (−∞ while it is not loaded: load it soon), or +∞ when it needs no work. */
  private dueAtMs(entry: Entry): number {
    if (!entry.loaded) return NEVER;
    if (!isComputable(entry) || entry.parked) return Number.POSITIVE_INFINITY;
    return Math.max(entry.computedAtMs, entry.emittedAtMs) + this.options.positionIntervalMs;
  }

  /** Arms the timer for `atMs` unless it is armed earlier already (or a tick runs: it reschedules). */
  private arm(atMs: number): void {
    if (this.closed || this.running !== undefined || atMs === Number.POSITIVE_INFINITY) return;
    const wakeAtMs = Math.max(atMs, this.retryAtMs);
    if (this.timer !== undefined && this.wakeAtMs <= wakeAtMs) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.wakeAtMs = wakeAtMs;
    this.timer = setTimeout(() => this.wake(), Math.max(0, wakeAtMs - this.options.now()));
    this.timer.unref();
  }

  /**
   * Arms the timer for the next due work (O(watched jobs), once per tick). Work falling due within a
   * tenth of the interval after the first is done in the same tick, so jobs stay batched.
   */
  private schedule(): void {
    const interval = this.options.positionIntervalMs;
    const dues: number[] = [];
    let first = Number.POSITIVE_INFINITY;
    for (const entry of this.entries.values()) {
      const due = this.dueAtMs(entry);
      dues.push(due);
      if (due < first) first = due;
    }
    if (this.hasRunningEtaJobs()) {
      const due = (this.stats?.atMs ?? NEVER) + interval;
      dues.push(due);
      if (due < first) first = due;
    }
    if (first === Number.POSITIVE_INFINITY) return;
    let wakeAtMs = first;
    for (const due of dues) if (due <= first + interval / 10 && due > wakeAtMs) wakeAtMs = due;
    this.arm(wakeAtMs);
  }

  private wake(): void {
    const wakeAtMs = this.wakeAtMs;
    this.timer = undefined;
    this.wakeAtMs = Number.POSITIVE_INFINITY;
    if (this.closed || this.running !== undefined) return;
    // Timers may fire a little early by the clock; ticking then would leave the jobs due now for
    // another tick, splitting one queue's batch in two.
    if (Number.isFinite(wakeAtMs) && this.options.now() < wakeAtMs) {
      this.arm(wakeAtMs);
      return;
    }
    this.running = this.tick()
      .then(() => {
        this.retryAtMs = NEVER;
      })
      .catch((error: unknown) => {
        // Back off for one interval, so a Redis outage does not turn into a busy loop.
        this.retryAtMs = this.options.now() + this.options.positionIntervalMs;
        this.fail(error);
      })
      .finally(() => {
        this.running = undefined;
        this.schedule();
      });
  }

  private fail(error: unknown): void {
    // After close, a tick that was cut short (its connection quit) is no failure to report.
    if (this.closed) return;
    const err = error instanceof Error ? error : new Error(String(error));
    this.source.logger.warn({ err }, 'position watcher tick failed');
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private hasRunningEtaJobs(): boolean {
    for (const entry of this.entries.values()) if (entry.job?.status === 'running' && wantsEta(entry.job)) return true;
    return false;
  }

  private async tick(): Promise<void> {
    const startMs = this.options.now();
    await this.load([...this.entries.values()].filter((entry) => !entry.loaded));
    // Only entries loaded by now: one watched while load() ran is not loaded yet (its due time is −∞
    // to get a tick soon) and has no queue or BullMQ id; the next tick loads it.
    const due = [...this.entries.values()].filter((entry) => entry.loaded && this.dueAtMs(entry) <= startMs);
    const byQueue = new Map<string, Entry[]>();
    for (const entry of due) {
      const list = byQueue.get(entry.queueName as string) ?? [];
      list.push(entry);
      byQueue.set(entry.queueName as string, list);
    }
    const historyDue = (this.stats?.atMs ?? NEVER) + this.options.positionIntervalMs <= startMs;
    const needHistory =
      historyDue && (due.some((entry) => entry.job !== null && wantsEta(entry.job)) || this.hasRunningEtaJobs());
    const failures: Error[] = [];
    const [looked] = await Promise.all([
      Promise.all(
        [...byQueue].map(async ([queueName, entries]) => {
          try {
            const requests = entries.map((entry) =>
              entry.hint === undefined
                ? { bullId: entry.bullId as string }
                : { bullId: entry.bullId as string, hint: entry.hint },
            );
            return {
              entries,
              snapshot: await lookupIn(
                this.source,
                queueName,
                requests,
                this.options.scanLimit,
                this.options.rankIndex,
              ),
            };
          } catch (error) {
            // One queue's failure (e.g. CROSSSLOT for an untagged queue on a cluster) costs only its
            // own jobs this tick; they are retried one interval later.
            for (const entry of entries) entry.computedAtMs = startMs;
            failures.push(error instanceof Error ? error : new Error(String(error)));
            return null;
          }
        }),
      ),
      needHistory
        ? this.refreshHistory(startMs).catch((error: unknown) => {
            // Positions go out without fresh ETAs; the history is read again next interval.
            this.stats = {
              stats: this.stats?.stats ?? new HistoryStats({ queues: new Map(), workflows: new Map() }),
              atMs: startMs,
            };
            failures.push(error instanceof Error ? error : new Error(String(error)));
          })
        : Promise.resolve(),
    ]);
    const snapshots = looked.filter((result) => result !== null);
    let emitted = 0;
    let elementsRead = 0;
    for (const { entries, snapshot } of snapshots) {
      elementsRead += snapshot.elementsRead;
      entries.forEach((entry, i) => {
        if (this.apply(entry, snapshot, snapshot.places[i] as JobPlace, startMs)) emitted += 1;
      });
    }
    // Closed meanwhile: the watches are gone (`apply` emitted nothing), and so is the tick.
    if (!this.closed)
      this.emit('tick', { atMs: startMs, queues: snapshots.length, jobs: due.length, elementsRead, emitted });
    // The ETAs noted above (and by noteChange since the last tick), one script per queue; after the
    // tick's events, and without yielding when there is nothing to write.
    if (this.predictions !== null && this.predictions.pendingJobs > 0) {
      try {
        await this.predictions.flush();
      } catch (error) {
        failures.push(error instanceof Error ? error : new Error(String(error)));
      }
    }
    for (const failure of failures) this.fail(failure);
  }

  /** Applies one lookup result to an entry; true when an update was emitted. */
  private apply(entry: Entry, snapshot: QueueSnapshot, place: JobPlace, startMs: number): boolean {
    entry.computedAtMs = startMs;
    // The entry may have been dropped, or its job may have moved on, while the script ran.
    if (this.entries.get(entryKey(entry.userId, entry.jobId)) !== entry || entry.job === null) return false;
    if (entry.job.status === 'queued') {
      if (place.state === 'waiting' || place.state === 'prioritized') entry.hint = place.hint;
      else delete entry.hint;
      if (place.state !== 'waiting' && place.state !== 'prioritized' && place.state !== 'unknown') {
        // BullMQ has moved it on; the publisher's event will follow and `noteChange` un-parks it.
        entry.parked = true;
        return false;
      }
    } else if (entry.job.status === 'pending') {
      // A delayed job gets an ETA (its delay, then the queue); any other pending job (a flow parent
      // waiting for its children, or one BullMQ promoted already) waits for its next status.
      delete entry.hint;
      if (place.state !== 'delayed' || !wantsEta(entry.job)) {
        entry.parked = true;
        return false;
      }
    } else {
      return false;
    }
    const view = computeView(
      entry.job,
      entry.queueName,
      { snapshot, place },
      this.stats?.stats ?? null,
      startMs,
      this.options,
    );
    // The ETA in force now, sent or not (an unsent one is within a tenth of the time left of the sent one).
    this.notePrediction(entry, view, startMs);
    if (!viewChangedFrom(entry.sent, view, startMs)) return false;
    const atMs = this.options.now();
    entry.sent = view;
    entry.emittedAtMs = atMs;
    this.emit('position', { userId: entry.userId, job: applyView(entry.job, view), atMs });
    return true;
  }

  /** Notes a computed ETA of a watched job for the calibration (see `calibration.ts`). */
  private notePrediction(entry: Entry, view: PositionView, nowMs: number): void {
    const eta = view.eta;
    if (
      this.predictions === null ||
      eta === undefined ||
      entry.queueName === undefined ||
      entry.bullId === undefined ||
      entry.job === null
    )
      return;
    this.predictions.note(
      entry.queueName,
      entry.jobId,
      entry.bullId,
      etaKindOf(entry.job.status),
      eta.modelConfidence ?? eta.confidence,
      eta.atMs,
      nowMs,
    );
  }

  /** Reads the records of entries not loaded yet (one pipelined read per user). */
  private async load(entries: Entry[]): Promise<void> {
    const byUser = new Map<string, Entry[]>();
    for (const entry of entries) byUser.set(entry.userId, [...(byUser.get(entry.userId) ?? []), entry]);
    await Promise.all(
      [...byUser].map(async ([userId, list]) => {
        const snapshots = await this.source.store.readMany(
          userId,
          list.map((entry) => entry.jobId),
        );
        list.forEach((entry, i) => {
          const record = snapshots[i]?.record;
          entry.loaded = true;
          if (record === undefined) return;
          if (record.x.queueName !== undefined) entry.queueName = record.x.queueName;
          if (record.x.bullId !== undefined) entry.bullId = record.x.bullId;
          if (entry.job === null || record.job.updatedAt > entry.job.updatedAt) entry.job = record.job;
        });
      }),
    );
  }

  private async refreshHistory(nowMs: number): Promise<void> {
    const wanted: HistoryWanted[] = [];
    for (const entry of this.entries.values()) {
      if (entry.job === null || !wantsEta(entry.job)) continue;
      wanted.push({ queueName: entry.queueName, workflowId: workflowOf(entry.job) });
    }
    const history = await readHistory(this.source.redis, this.source.keys, wanted, this.options);
    this.stats = { stats: new HistoryStats(history), atMs: nowMs };
  }
}

function entryKey(userId: string, jobId: string): string {
  return `${userId}\n${jobId}`;
}

function isComputable(entry: Entry): boolean {
  const status = entry.job?.status;
  return (status === 'queued' || status === 'pending') && entry.queueName !== undefined && entry.bullId !== undefined;
}

/** The derived fields a job object carries now. */
function viewOf(job: SeennJob): PositionView {
  const view: PositionView = {};
  if (job.queue !== undefined) view.queue = job.queue;
  if (job.estimatedCompletionAt !== undefined && job.etaConfidence !== undefined) {
    view.eta = {
      atMs: Date.parse(job.estimatedCompletionAt),
      confidence: job.etaConfidence,
      basedOn: job.etaBasedOn ?? 0,
    };
  }
  return view;
}

function viewChangedFrom(before: PositionView | undefined, after: PositionView, nowMs: number): boolean {
  if (before === undefined) return after.queue !== undefined || after.eta !== undefined;
  return viewChanged(before, after, nowMs);
}
