/**
 * Live queue positions on the bridge: ONE {@link PositionWatcher} per bridge, shared by its streams.
 *
 * - Each stream follows the jobs it shows its client ({@link StreamPositions}): a job is watched
 *   while its last state shown is `queued`, and unwatched when it leaves the queue or the stream
 *   closes. The watcher counts watches, so a job shown by many streams is computed once.
 * - Every job event on its way to streams passes through {@link LivePositions.decorate} once (not
 *   once per stream): a watched queued job keeps the last position sent, a running one gets a
 *   computed ETA.
 * - A changed position becomes ONE `job.progress` frame without `id:` (positions are derived, never
 *   stored, so they never move a cursor), handed to the streams of its user that show the job.
 */
import type { Logger } from '../logger.js';
import type { SeennJob } from '../model/job.js';
import { PositionWatcher, type PositionOptions, type PositionWatcherSource } from '../position/index.js';
import { formatValue, frameBytes, type Frame } from './frames.js';
import type { StreamEvent } from './stream-event.js';

/**
 * Most queued jobs one stream watches at once. Beyond it, more queued jobs are shown without live
 * positions (they still carry one on every read, and on the next connect's `job.sync`).
 */
export const MAX_WATCHED_JOBS_PER_STREAM = 1_000;

/** A changed position of one job, framed once for every stream of its user that shows the job. */
export class PositionEvent {
  /** The `job.progress` frame (no `id:`). */
  readonly frame: Frame;
  private cachedBytes: number | undefined;

  /**
   * @param userId - the job's user
   * @param job - the job with its new position (and ETA)
   */
  constructor(
    readonly userId: string,
    readonly job: SeennJob,
  ) {
    this.frame = formatValue('job.progress', job);
  }

  /** The job's id. */
  get jobId(): string {
    return this.job.id;
  }

  /** The frame's size in bytes. */
  get bytes(): number {
    this.cachedBytes ??= frameBytes(this.frame);
    return this.cachedBytes;
  }
}

/** The bridge's live positions: the shared watcher, and what each stream follows. */
export class LivePositions {
  private readonly watcher: PositionWatcher;

  /**
   * @param source - Redis, keys, store and logger (the Seenn context); the watcher logs its failures there
   * @param positionIntervalMs - at most one position update per job per this many ms
   * @param logger - where delivery failures go
   * @param send - hands a changed position to the streams of its user
   * @param positions - the lookup and ETA options (`SeennOptions.positions`)
   */
  constructor(
    source: PositionWatcherSource,
    positionIntervalMs: number,
    logger: Logger,
    send: (event: PositionEvent) => void,
    positions: PositionOptions = {},
  ) {
    this.watcher = new PositionWatcher(source, { ...positions, positionIntervalMs });
    this.watcher.on('position', ({ userId, job }) => {
      try {
        send(new PositionEvent(userId, job));
      } catch (error) {
        logger.error({ err: error, userId }, 'bridge: a position update could not be delivered');
      }
    });
  }

  /** Jobs watched now (over every stream of this bridge). */
  get watchedJobs(): number {
    return this.watcher.size;
  }

  /**
   * `event` as clients should see it: a job event of a watched job carries the last position sent
   * (queued) or a computed ETA (running). Call it once per event, before fanning out. Events of jobs
   * nobody watches come back as they are, unparsed when nothing at all is watched.
   */
  decorate(event: StreamEvent): StreamEvent {
    if (this.watcher.size === 0) return event;
    const job = event.job;
    if (job === null) return event;
    const shown = this.watcher.noteChange(job);
    if (shown === job || sameDerived(shown, job)) return event;
    return event.withJob(shown);
  }

  /** The follower of one stream of `userId` (call its `close()` when the stream ends). */
  forStream(userId: string): StreamPositions {
    return new StreamPositions(this.watcher, userId);
  }

  /** Stops the watcher (its timer and every watch). */
  close(): Promise<void> {
    return this.watcher.close();
  }
}

/** The queued jobs one stream watches: at most {@link MAX_WATCHED_JOBS_PER_STREAM}. */
export class StreamPositions {
  private readonly unwatch = new Map<string, () => void>();
  private closed = false;

  /**
   * @param watcher - the bridge's watcher
   * @param userId - the stream's user
   */
  constructor(
    private readonly watcher: PositionWatcher,
    private readonly userId: string,
  ) {}

  /** Whether the stream watches `jobId` (so its position updates are the stream's to send). */
  shows(jobId: string): boolean {
    return this.unwatch.has(jobId);
  }

  /** Jobs this stream watches. */
  get size(): number {
    return this.unwatch.size;
  }

  /**
   * Notes the state of a job the stream has just shown its client: watched while `queued` (with the
   * job as the client has it), unwatched in any other status. Does nothing once closed.
   */
  follow(job: SeennJob): void {
    if (this.closed) return;
    const stop = this.unwatch.get(job.id);
    if (job.status === 'queued') {
      if (stop === undefined && this.unwatch.size < MAX_WATCHED_JOBS_PER_STREAM)
        this.unwatch.set(job.id, this.watcher.watch(this.userId, job.id, job));
    } else if (stop !== undefined) {
      this.unwatch.delete(job.id);
      stop();
    }
  }

  /** Stops every watch of this stream. Idempotent. */
  close(): void {
    this.closed = true;
    for (const stop of this.unwatch.values()) stop();
    this.unwatch.clear();
  }
}

/** Whether `decorated` adds nothing to `job` (then the stored payload is sent as it is). */
function sameDerived(decorated: SeennJob, job: SeennJob): boolean {
  return (
    decorated.queue === job.queue &&
    decorated.estimatedCompletionAt === job.estimatedCompletionAt &&
    decorated.etaConfidence === job.etaConfidence &&
    decorated.etaBasedOn === job.etaBasedOn
  );
}
