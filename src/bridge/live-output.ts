/**
 * Job output on the SSE stream: `job.output` events `{ jobId, stream, seq, chunk }`, without `id:`
 * (output is not in the replay stream, so it never moves the client's `Last-Event-ID`).
 *
 * What a stream sends is chosen on connect:
 * - `output`: `*` (the default: every stream of every job the connection shows) or one stream name;
 * - `outputAfter` (with a `jobId` filter and one stream name): resume — the chunks with a larger seq
 *   are read from Redis first, then live ones follow; `-1` sends the output from its start, and is
 *   the default whenever a `jobId` filter names one stream. Otherwise a job's output is live from
 *   the first chunk this connection sees.
 *
 * The `jobId` filter and a job-scoped token let output through as they let job events through: a
 * child's output passes a filter or scope naming its parent once the stream has shown the child (its
 * `job.sync` or one of its events).
 *
 * Per job and stream, the stream keeps the next seq it owes. A live chunk below it is dropped (already
 * sent); one above it means chunks were missed (Pub/Sub drops messages while a subscriber
 * reconnects), so the missing ones are read from Redis first — where they are, since a chunk is
 * published only once stored. After the hub resubscribes, every followed output is read from its next
 * seq. So within one connection, and across reconnects that pass `outputAfter`, each chunk arrives
 * once and in order.
 */
import type { Principal } from '../auth/tokens.js';
import { SeennError } from '../errors.js';
import { OutputStreamNameSchema, outputEventData } from '../model/output.js';
import { OUTPUT_EVENT } from '../model/wire.js';
import type { OutputNotification, OutputStore } from '../store/output-store.js';
import { inScope } from './authenticate.js';
import { Frame, formatFrame } from './frames.js';

/** Chunks read from Redis per round trip while catching up. */
const OUTPUT_READ_BATCH = 200;
/** The most job streams one SSE stream keeps a position for (the oldest is forgotten first). */
const MAX_FOLLOWED_OUTPUTS = 1_000;

/** What a connection asked for: which streams, and where to resume (with a `jobId` filter). */
export interface OutputRequest {
  /** One stream name, or `null` for every stream. */
  stream: string | null;
  /** Resume after this seq (`-1`: from the start); `null`: live only. */
  after: number | null;
}

/**
 * Reads `output` and `outputAfter` of an SSE connect. `outputAfter` needs a `jobId` filter and one
 * stream; anything malformed is `VALIDATION_ERROR`.
 */
export function parseOutputRequest(query: URLSearchParams, filterJobId: string | null): OutputRequest {
  const name = query.get('output');
  let stream: string | null = null;
  if (name !== null && name !== '*') {
    const parsed = OutputStreamNameSchema.safeParse(name);
    if (!parsed.success)
      throw new SeennError(
        'VALIDATION_ERROR',
        '`output` must be `*` or a stream name (1 to 32 letters, digits, _ . or -)',
        { details: { output: name } },
      );
    stream = parsed.data;
  }
  const afterText = query.get('outputAfter');
  if (afterText === null) return { stream, after: filterJobId !== null && stream !== null ? -1 : null };
  if (!/^(-1|0|[1-9]\d{0,8})$/.test(afterText))
    throw new SeennError('VALIDATION_ERROR', '`outputAfter` must be an integer from -1', {
      details: { outputAfter: afterText },
    });
  if (filterJobId === null || stream === null)
    throw new SeennError('VALIDATION_ERROR', '`outputAfter` needs a `jobId` filter and one `output` stream', {
      details: { outputAfter: afterText },
    });
  return { stream, after: Number(afterText) };
}

/** One live output notification on its way to sessions: its frames are built once, whatever the number of sessions. */
export class OutputEvent {
  private cachedFrames: Frame[] | undefined;
  private cachedBytes: number | undefined;

  /** @param notification - the parsed Pub/Sub message */
  constructor(readonly notification: OutputNotification) {}

  /** The `job.output` frame of each chunk, in seq order. */
  get frames(): Frame[] {
    const { jobId, stream, firstSeq, chunks } = this.notification;
    this.cachedFrames ??= chunks.map((json, i) => outputFrame(jobId, stream, firstSeq + i, json));
    return this.cachedFrames;
  }

  /** The frames' size in bytes. */
  get bytes(): number {
    this.cachedBytes ??= this.frames.reduce((sum, frame) => sum + frame.bytes.length, 0);
    return this.cachedBytes;
  }
}

/** The `job.output` frame of one chunk (`json` as stored). */
export function outputFrame(jobId: string, stream: string, seq: number, json: string): Frame {
  return formatFrame({ event: OUTPUT_EVENT, data: outputEventData(jobId, stream, seq, json) });
}

/**
 * The `job.output` events of consecutive chunks as ONE frame, for one `write()` (each event whole in
 * it, as SSE parsers need); how a page read back from Redis goes out. The bridge's events-sent metric
 * counts it once, as one `job.output` write.
 */
export function outputFrames(jobId: string, stream: string, firstSeq: number, chunks: readonly string[]): Frame {
  // Stored chunks are JSON.stringify output (one line); re-serialised if one were not, as formatFrame does.
  const line = (json: string): string => (/[\r\n]/.test(json) ? JSON.stringify(JSON.parse(json)) : json);
  return new Frame(
    chunks
      .map((json, i) => `event:${OUTPUT_EVENT}\ndata:${outputEventData(jobId, stream, firstSeq + i, line(json))}\n\n`)
      .join(''),
    OUTPUT_EVENT,
  );
}

/** Where a follower writes: the session's own write path. */
export interface OutputSink {
  /** Writes one whole frame (the session bounds its buffer). */
  write(frame: Frame): void;
  /** Resolves once the socket has room again. */
  drained(): Promise<void>;
  /** Whether the session has ended. */
  isClosed(): boolean;
  /** Live chunks waiting while the session starts passed the session's bound. */
  overflow(): void;
  /** Reading from Redis failed: the session ends with an error (the client reconnects and resumes). */
  fail(error: unknown): void;
}

/** The output position of one job stream on one SSE stream. */
interface Followed {
  jobId: string;
  stream: string;
  /** The next seq owed to the client; `null` until the first live chunk is seen (live-only). */
  next: number | null;
  /** A read from Redis is running: live chunks wait in `held`. */
  reading: boolean;
  /** Read once more when the running read ends (the hub resubscribed meanwhile). */
  again: boolean;
  held: OutputEvent[];
}

/** The output side of one SSE session. */
export class OutputFollower {
  private readonly followed = new Map<string, Followed>();
  /** The parent of each child job this stream has shown (its filter and scope let a parent's children through). */
  private readonly parents = new Map<string, string>();
  /** Live events that arrived before the session went live. */
  private early: OutputEvent[] | null = [];
  private earlyBytes = 0;

  /**
   * @param principal - whose stream this is (scope of a job-scoped token)
   * @param filterJobId - the connection's `jobId` filter
   * @param request - the connection's output choice
   * @param store - where chunks are read back
   * @param sink - the session's write path
   * @param maxBufferedBytes - the most bytes of live output held while the session starts
   */
  constructor(
    private readonly principal: Principal,
    private readonly filterJobId: string | null,
    private readonly request: OutputRequest,
    private readonly store: OutputStore,
    private readonly sink: OutputSink,
    private readonly maxBufferedBytes: number,
  ) {
    if (filterJobId !== null && request.stream !== null && request.after !== null) {
      this.entry(filterJobId, request.stream).next = request.after + 1;
    }
  }

  /** A live notification of this user (in publication order). */
  deliver(event: OutputEvent): void {
    if (this.sink.isClosed() || !this.wants(event.notification)) return;
    if (this.early !== null) {
      this.early.push(event);
      this.earlyBytes += event.bytes;
      if (this.earlyBytes > this.maxBufferedBytes) this.sink.overflow();
      return;
    }
    const { jobId, stream } = event.notification;
    this.take(this.entry(jobId, stream), event);
  }

  /** The session is live: reads the resumed output from Redis, then sends what arrived meanwhile. */
  start(): void {
    const early = this.early ?? [];
    this.early = null;
    this.earlyBytes = 0;
    for (const followed of this.followed.values()) if (followed.next !== null) this.read(followed);
    for (const event of early) this.deliver(event);
  }

  /** The hub resubscribed: chunks published meanwhile may be lost; read every followed output from Redis. */
  resubscribed(): void {
    if (this.early !== null) return;
    for (const followed of this.followed.values()) if (followed.next !== null) this.read(followed);
  }

  /**
   * The session showed a job (a `job.sync` or a job event): a child's output then passes a `jobId`
   * filter or a job scope naming its parent, as the child's own events do.
   */
  shown(jobId: string, parentJobId: string | undefined): void {
    if (parentJobId === undefined || this.parents.get(jobId) === parentJobId) return;
    if (this.parents.size >= MAX_FOLLOWED_OUTPUTS) {
      const oldest = this.parents.keys().next();
      if (oldest.done !== true) this.parents.delete(oldest.value);
    }
    this.parents.set(jobId, parentJobId);
  }

  /** Forgets everything (the session ended). */
  close(): void {
    this.parents.clear();
    this.followed.clear();
    this.early = null;
  }

  private wants(notification: OutputNotification): boolean {
    if (this.request.stream !== null && notification.stream !== this.request.stream) return false;
    const parentJobId = this.parents.get(notification.jobId);
    if (this.filterJobId !== null && notification.jobId !== this.filterJobId && parentJobId !== this.filterJobId)
      return false;
    return inScope(this.principal, notification.jobId, parentJobId);
  }

  private entry(jobId: string, stream: string): Followed {
    const key = `${jobId}\n${stream}`;
    let followed = this.followed.get(key);
    if (followed === undefined) {
      if (this.followed.size >= MAX_FOLLOWED_OUTPUTS) {
        for (const [oldKey, old] of this.followed) {
          if (old.reading || (this.filterJobId === old.jobId && this.request.stream === old.stream)) continue;
          this.followed.delete(oldKey);
          break;
        }
      }
      followed = { jobId, stream, next: null, reading: false, again: false, held: [] };
      this.followed.set(key, followed);
    }
    return followed;
  }

  /** Sends the chunks of `event` the client is owed, or reads the missing ones from Redis first. */
  private take(followed: Followed, event: OutputEvent): void {
    if (followed.reading) {
      followed.held.push(event);
      return;
    }
    const { firstSeq, chunks } = event.notification;
    followed.next ??= firstSeq;
    if (firstSeq > followed.next) {
      // A gap: the missing chunks (and these) are in Redis.
      followed.held.push(event);
      this.read(followed);
      return;
    }
    const frames = event.frames;
    for (let seq = followed.next; seq < firstSeq + chunks.length; seq += 1)
      this.sink.write(frames[seq - firstSeq] as Frame);
    followed.next = Math.max(followed.next, firstSeq + chunks.length);
  }

  /** Reads and sends the chunks from `followed.next` to the stream's end, then what was held meanwhile. */
  private read(followed: Followed): void {
    if (followed.reading) {
      followed.again = true;
      return;
    }
    followed.reading = true;
    const run = async (): Promise<void> => {
      const userId = this.principal.userId;
      for (;;) {
        followed.again = false;
        const next = followed.next ?? 0;
        const page = await this.store.read(userId, followed.jobId, followed.stream, next - 1, OUTPUT_READ_BATCH);
        if (this.sink.isClosed()) return;
        if (page.chunks.length > 0)
          this.sink.write(outputFrames(followed.jobId, followed.stream, page.firstSeq, page.chunks));
        followed.next = next + page.chunks.length;
        await this.sink.drained();
        if (this.sink.isClosed()) return;
        if (page.chunks.length < OUTPUT_READ_BATCH && !followed.again) break;
      }
      followed.reading = false;
      const held = followed.held;
      followed.held = [];
      for (const event of held) this.take(followed, event);
    };
    run().catch((error: unknown) => {
      followed.reading = false;
      this.sink.fail(error);
    });
  }
}
