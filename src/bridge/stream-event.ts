/**
 * One entry of a user's replay stream on its way to clients, whether it arrived live (Pub/Sub) or was
 * read back from the stream. Its frame, its parsed payload and the job ids it concerns are computed at
 * most once, however many sessions it goes to.
 */
import { JOB_EVENT_NAMES } from '../model/wire.js';
import type { SeennJob } from '../model/job.js';
import type { ReplayEntry } from '../store/job-store.js';
import { formatFrame, frameBytes, type Frame } from './frames.js';

/** The jobs an event concerns: the job itself and, for a child, its parent. */
export interface JobRefs {
  jobId?: string;
  parentJobId?: string;
}

/** A replay-stream entry of one user: `id` is the SSE `id:`, `data` the JSON payload. */
export class StreamEvent {
  private cachedFrame: Frame | undefined;
  private cachedBytes: number | undefined;
  private cachedRefs: JobRefs | undefined;
  private cachedValue: { value: unknown } | undefined;
  private cachedJob: { job: SeennJob | null } | undefined;

  /**
   * @param userId - the user whose stream holds the entry
   * @param id - the entry id
   * @param event - the SSE event name
   * @param data - the JSON payload
   */
  constructor(
    readonly userId: string,
    readonly id: string,
    readonly event: string,
    readonly data: string,
  ) {}

  /**
   * Parses a live notification `userId\nentryId\neventName\ndata` (as the `applyChanges` script
   * publishes it), or returns `null` when it is malformed.
   */
  static fromNotification(message: string): StreamEvent | null {
    const first = message.indexOf('\n');
    const second = first < 0 ? -1 : message.indexOf('\n', first + 1);
    const third = second < 0 ? -1 : message.indexOf('\n', second + 1);
    if (third < 0) return null;
    const userId = message.slice(0, first);
    const id = message.slice(first + 1, second);
    const event = message.slice(second + 1, third);
    if (userId === '' || event === '' || !/^\d+-\d+$/.test(id)) return null;
    return new StreamEvent(userId, id, event, message.slice(third + 1));
  }

  /** Wraps an entry read from `userId`'s replay stream. */
  static fromReplay(userId: string, entry: ReplayEntry): StreamEvent {
    return new StreamEvent(userId, entry.id, entry.event, entry.data);
  }

  /**
   * The same entry carrying `job` instead of its stored payload (serialised here, once): how a live
   * event gets the derived fields (queue position, ETA) its clients should see.
   */
  withJob(job: SeennJob): StreamEvent {
    const event = new StreamEvent(this.userId, this.id, this.event, JSON.stringify(job));
    event.cachedValue = { value: job };
    event.cachedJob = { job };
    return event;
  }

  /** The SSE frame (`event:`, `id:`, `data:`), built once. */
  get frame(): Frame {
    this.cachedFrame ??= formatFrame({ event: this.event, id: this.id, data: this.data });
    return this.cachedFrame;
  }

  /** The frame's size in bytes. */
  get bytes(): number {
    this.cachedBytes ??= frameBytes(this.frame);
    return this.cachedBytes;
  }

  /**
   * The jobs this event concerns, parsed once: a job event's `id` and `parent.parentJobId`; a
   * `child.progress` event's `parentJobId`.
   */
  get refs(): JobRefs {
    this.cachedRefs ??= parseRefs(this.value);
    return this.cachedRefs;
  }

  /** The job object of a job event (`job.*`), parsed once; `null` for other events. */
  get job(): SeennJob | null {
    this.cachedJob ??= { job: isJobEventName(this.event) && isJobShaped(this.value) ? this.value : null };
    return this.cachedJob.job;
  }

  /** The payload parsed (once), or `undefined` when it is not JSON. */
  private get value(): unknown {
    if (this.cachedValue === undefined) {
      let value: unknown;
      try {
        value = JSON.parse(this.data);
      } catch {
        value = undefined;
      }
      this.cachedValue = { value };
    }
    return this.cachedValue.value;
  }
}

function isJobEventName(event: string): boolean {
  return (JOB_EVENT_NAMES as readonly string[]).includes(event);
}

/** Whether a payload has what the bridge reads of a job (it was written by our own store). */
function isJobShaped(value: unknown): value is SeennJob {
  if (value === null || typeof value !== 'object') return false;
  const job = value as Record<string, unknown>;
  return (
    typeof job['id'] === 'string' &&
    typeof job['userId'] === 'string' &&
    typeof job['status'] === 'string' &&
    typeof job['updatedAt'] === 'string'
  );
}

function parseRefs(value: unknown): JobRefs {
  if (value === null || typeof value !== 'object') return {};
  const record = value as { id?: unknown; parentJobId?: unknown; parent?: { parentJobId?: unknown } };
  const refs: JobRefs = {};
  if (typeof record.id === 'string') refs.jobId = record.id;
  else if (typeof record.parentJobId === 'string') refs.jobId = record.parentJobId;
  if (typeof record.parent?.parentJobId === 'string') refs.parentJobId = record.parent.parentJobId;
  return refs;
}
