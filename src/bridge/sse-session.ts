/**
 * One SSE stream of one user, from connect to close:
 *
 * 1. register with the hub (live events are buffered from now on), then send the response head;
 * 2. with a cursor (`Last-Event-ID` header, else `lastEventId` query; `<ms>-<seq>`) still inside the
 *    replay stream (oldest ≤ cursor ≤ newest): `connected {recovered:true}`, then every entry after
 *    the cursor. Otherwise (no cursor, garbage, trimmed, or newer than the stream):
 *    `connected {recovered:false}` and one `job.sync` per job to reconcile (see `sync.ts`). The
 *    cursor for the next reconnect is the stream's newest id read BEFORE the jobs: it rides on the
 *    last `job.sync` as its `id:`, or on `connected` when there is nothing to sync (no `id:` at all
 *    when the user has no stream yet; the first live event then sets it). Other non-job events
 *    (`heartbeat`, `connection.idle`, `error`) never carry an `id:`, so they never move a cursor;
 * 3. go live: buffered events the replay already covered (id ≤ the last one handled) are dropped, so
 *    the seam between replay and live has no gap and no duplicate;
 * 4. from the response head on (so also during the sync and the replay): `heartbeat` after every
 *    `heartbeatMs` without another event (once `connected` is out), `connection.idle` then close
 *    after `idleTimeoutMs` without job events, `error` then close when the credentials expire, and a hard disconnect when
 *    the client stops reading: more than `maxBufferedBytes` wait to be sent, or the sync or replay
 *    waited `drainTimeoutMs` for the socket to drain.
 *
 * The `job.sync` jobs are read a page at a time (see `sync.ts`) and the reads stop once the client
 * is gone.
 *
 * Live queue positions (when the bridge has them, see `live-positions.ts`): the stream watches every
 * job it shows as `queued` — from `job.sync`, replayed and live events; on a recovered connect, also
 * the user's queued jobs it may show, read from the store before the replay — until it shows the job
 * in another status or closes. Position updates of those jobs are sent as `job.progress` without
 * `id:`, in order with the other events (buffered like them while catching up).
 *
 * Framing is better-sse's format (see `frames.ts`); each event is written whole with one `write()`
 * of its pre-encoded frame. Heartbeats, idle and expiry are driven by the bridge's one ticker
 * ({@link SseSession.tick}), not by timers per stream.
 */
import type { Principal } from '../auth/tokens.js';
import type { Logger } from '../logger.js';
import type { MetricsRecorder } from '../metrics/recorder.js';
import type { SeennJob } from '../model/job.js';
import type { JobStore, ReplayEntry } from '../store/job-store.js';
import { inScope } from './authenticate.js';
import { compareStreamIds } from '../model/wire.js';
import { formatFrame, formatValue, isStreamId, type Frame } from './frames.js';
import type { HubListener, LiveHub } from './live-hub.js';
import { PositionEvent, type LivePositions, type StreamPositions } from './live-positions.js';
import { OutputFollower, type OutputEvent, type OutputRequest } from './live-output.js';
import type { OutputStore } from '../store/output-store.js';
import type { ResolvedBridgeOptions } from './options.js';
import type { SseConnection } from './sse-connection.js';
import { StreamEvent } from './stream-event.js';
import { openJobsInScope, syncPages, type JobReader } from './sync.js';

/** Headers of every stream, on top of `Content-Type: text/event-stream` and `Connection: keep-alive`. */
export const SSE_HEADERS = Object.freeze({
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
  'X-Content-Type-Options': 'nosniff',
});

/** The whole response head of a stream (headers set earlier on the response, e.g. CORS, are kept). */
const STREAM_HEAD = Object.freeze({
  'Content-Type': 'text/event-stream',
  Connection: 'keep-alive',
  Pragma: 'no-cache',
  ...SSE_HEADERS,
});

/** Frames that never change, encoded once. */
const EXPIRED_FRAME = formatValue('error', { code: 'UNAUTHORIZED', message: 'the token has expired' });
const FAILED_FRAME = formatValue('error', {
  code: 'INTERNAL_ERROR',
  message: 'the stream failed; reconnect to resume',
});
const GAP_FRAME = formatValue('error', {
  code: 'REPLAY_GAP',
  message: 'events were trimmed before this stream could send them; reconnect to resynchronise',
});

/** Replay-stream entries read per round trip while catching up. */
const REPLAY_BATCH = 200;
/** The replay cursor of a session that has handled nothing (before every possible entry id). */
const START = '0-0';

/** Why a session ended. */
export type CloseReason = 'client' | 'slow-client' | 'expired' | 'idle' | 'shutdown' | 'error' | 'gap';

/** What a session needs from its bridge. */
export interface SessionServices {
  store: JobStore;
  /** Job output, read back when a stream resumes it or missed some (see `live-output.ts`). */
  output: OutputStore;
  jobs: JobReader;
  hub: LiveHub;
  /** Live queue positions, or `null` when the bridge has them off. */
  positions: LivePositions | null;
  options: Omit<ResolvedBridgeOptions, 'auth'>;
  logger: Logger;
  /** Where events sent and reconnects are counted. */
  metrics: MetricsRecorder;
  /** Called once when a session ends. */
  closed?: (session: SseSession, reason: CloseReason) => void;
  /** Called when a session's connection let go of its request (see `SseConnection.release`). */
  detached?: (session: SseSession) => void;
}

/** What the client asked for, after authentication. */
export interface StreamRequest {
  principal: Principal;
  /** Only this job (and its children), when set. */
  filterJobId: string | null;
  /** The client's cursor (`Last-Event-ID` header or `lastEventId` query) as sent, unchecked. */
  cursor: string | null;
  /** Which job output to send, and where to resume it. @defaultValue every stream, live */
  output?: OutputRequest;
}

/** One open SSE stream. */
export class SseSession implements HubListener {
  private phase: 'starting' | 'catching-up' | 'live' | 'closed' = 'starting';
  /** The replay cursor: the last replay-stream id handled (delivered, or skipped by the filter). */
  private replayCursor = START;
  /** Live events (and position updates) that arrived while catching up, in order. */
  private pending: Array<StreamEvent | PositionEvent> = [];
  private pendingBytes = 0;
  private catchingUp: Promise<void> | null = null;
  private catchUpAgain = false;
  /** The hub resubscribed while starting: the start must read the replay stream before going live. */
  private resubscribedWhileStarting = false;
  private lastJobEventAtMs = Date.now();
  /** When the next heartbeat is due (epoch ms); heartbeats wait for `connected`. */
  private nextBeatAtMs = Number.POSITIVE_INFINITY;
  private onClosed: Array<(reason: CloseReason) => void> | null = null;
  /**
   * Whether the head may still be held back in the connection, so that it, `connected` and the
   * connect's job.sync or replay leave in one write; flushed once the connect has written them, when
   * the socket must drain, by a close, or by the next tick of the ticker at the latest.
   */
  private holding = false;
  /** The queued jobs this stream watches for live positions (`null`: positions are off). */
  private readonly positions: StreamPositions | null;
  /** The stream's `job.output` events. */
  private readonly output: OutputFollower;

  /**
   * @param connection - the stream's connection; the session owns it from now on
   * @param request - the authenticated request
   * @param services - the bridge's shared parts
   */
  constructor(
    private readonly connection: SseConnection,
    private readonly request: StreamRequest,
    private readonly services: SessionServices,
  ) {
    this.positions = services.positions?.forStream(request.principal.userId) ?? null;
    this.output = new OutputFollower(
      request.principal,
      request.filterJobId,
      request.output ?? { stream: null, after: null },
      services.output,
      {
        write: (frame) => {
          // Output is activity: a stream showing a job's output is not idle.
          this.lastJobEventAtMs = Date.now();
          this.write(frame);
        },
        drained: () => this.drained(),
        isClosed: () => this.isClosed,
        overflow: () => this.close('slow-client'),
        fail: (error) => {
          services.logger.error({ err: error, userId: this.userId }, 'bridge: reading job output failed');
          this.fail();
        },
      },
      services.options.maxBufferedBytes,
    );
    connection.onClose(() => this.close('client'));
  }

  /** The user this stream belongs to. */
  get userId(): string {
    return this.request.principal.userId;
  }

  /** Whether the stream's connection let go of its request (a detached socket holds no request or response). */
  get isDetached(): boolean {
    return this.connection.released;
  }

  /** Whether the session has ended. */
  get isClosed(): boolean {
    return this.phase === 'closed';
  }

  /** Calls `listener` once when the session ends. */
  onClose(listener: (reason: CloseReason) => void): void {
    if (this.phase === 'closed') listener('client');
    else (this.onClosed ??= []).push(listener);
  }

  /**
   * Registers with the hub (synchronously, before the first await, so callers may count streams),
   * then runs steps 1–3 of the module comment. Never rejects: failures end the stream with an
   * `error` event.
   */
  async start(): Promise<void> {
    const { hub, store, logger, options } = this.services;
    // Live events are buffered from here on. With the subscription confirmed now, any event after
    // the newest id read below reaches this session live, so a fresh connect needs no replay read.
    const subscribedAtStart = hub.add(this.userId, this);
    try {
      if (!this.sendHead()) return;
      // Heartbeat, idle and expiry (the bridge's ticker) apply from the first byte: a client that
      // stops reading during the job.sync or the replay is still cut when its credentials expire.
      const cursor = this.request.cursor !== null && isStreamId(this.request.cursor) ? this.request.cursor : null;
      // With a cursor: the queued jobs to watch (read before the replay, so every later change of them
      // reaches `handle` in order), then the first replay page after the cursor with the stream's
      // oldest and newest ids, in one round trip.
      const queued = cursor === null ? [] : await this.queuedJobs();
      if (this.isClosed) return;
      const around = cursor === null ? null : await store.readStreamAfter(this.userId, cursor, REPLAY_BATCH);
      const last = around === null ? await store.lastStreamId(this.userId) : around.last;
      if (this.isClosed) return;
      const recovered =
        cursor !== null &&
        around !== null &&
        around.first !== null &&
        around.last !== null &&
        compareStreamIds(around.first, cursor) <= 0 &&
        compareStreamIds(cursor, around.last) <= 0;
      if (this.request.cursor !== null) this.services.metrics.reconnect(recovered);
      const retryMs = options.retryMs + Math.floor(Math.random() * (options.retryJitterMs + 1));
      const hello = {
        userId: this.userId,
        recovered,
        ...(this.request.filterJobId === null ? {} : { jobId: this.request.filterJobId }),
      };
      let synced = 0;
      let readMore: boolean;
      if (recovered && cursor !== null && around !== null) {
        this.sayHello(formatValue('connected', hello, { retryMs }));
        this.replayCursor = cursor;
        for (const job of queued) this.positions?.follow(job);
        // The oldest id was read after the page: nothing after the cursor was trimmed before it.
        await this.replayEntries(around.entries);
        if (this.isClosed) return;
        readMore = around.entries.length === REPLAY_BATCH;
      } else {
        // The newest id is read BEFORE the snapshots: a change after it is also in the stream (and
        // arrives below), so the client may see a state twice but never misses one.
        const cursorTimeMs = cursor === null ? Number.POSITIVE_INFINITY : Number(cursor.split('-')[0]);
        synced = await this.sync(
          last,
          formatValue('connected', hello, { retryMs }),
          () => formatValue('connected', hello, { retryMs, ...(last === null ? {} : { id: last }) }),
          Math.min(Date.now() - options.syncFinishedWithinMs, cursorTimeMs),
        );
        if (this.isClosed) return;
        this.replayCursor = last ?? START;
        readMore = false;
      }
      // The subscription was confirmed before the reads above, so any later event arrives live; the
      // replay stream is read again only for a page left unfinished or a resubscription meanwhile.
      await this.catchUp(readMore || !subscribedAtStart || this.resubscribedWhileStarting);
      // The head, `connected` and the job.sync or replay that followed leave in one socket write.
      this.uncork();
      this.output.start();
      logger.debug(
        { userId: this.userId, recovered, synced, filtered: this.request.filterJobId !== null },
        'bridge: stream open',
      );
    } catch (error) {
      logger.error({ err: error, userId: this.userId }, 'bridge: stream failed to start');
      this.fail();
    }
  }

  /** Hub: a live event of this user. */
  deliver(event: StreamEvent): void {
    if (this.phase === 'live') this.handle(event);
    else this.buffer(event);
  }

  /** Hub: a changed queue position of one of the user's jobs; sent if this stream watches the job. */
  deliverPosition(event: PositionEvent): void {
    if (this.positions?.shows(event.jobId) !== true) return;
    if (this.phase === 'live') this.sendPosition(event);
    else this.buffer(event);
  }

  /** Hub: new output of one of the user's jobs (see `live-output.ts`). */
  deliverOutput(event: OutputEvent): void {
    if (this.phase !== 'closed') this.output.deliver(event);
  }

  /** Hub: the subscription was (re)confirmed; read what Pub/Sub may have dropped. */
  resubscribed(): void {
    if (this.phase === 'starting') this.resubscribedWhileStarting = true;
    if (this.phase === 'starting' || this.phase === 'closed') return;
    this.output.resubscribed();
    this.catchUp(true).catch((error: unknown) => {
      this.services.logger.error({ err: error, userId: this.userId }, 'bridge: catch-up after resubscribe failed');
      this.fail();
    });
  }

  /**
   * Keeps a live event or position update until the stream is live (it is catching up); a client
   * whose buffered and unsent bytes pass `maxBufferedBytes` is cut. Nothing once closed.
   */
  private buffer(event: StreamEvent | PositionEvent): void {
    if (this.phase === 'closed') return;
    this.pending.push(event);
    this.pendingBytes += event.bytes;
    if (this.pendingBytes + this.connection.bufferedBytes > this.services.options.maxBufferedBytes)
      this.close('slow-client');
  }

  /**
   * Ends the stream: `final` (if given) is written first; a slow client's socket is destroyed
   * instead, since it would never drain. Idempotent.
   */
  close(reason: CloseReason, final?: Frame): void {
    if (this.phase === 'closed') return;
    if (final !== undefined) this.write(final);
    this.uncork();
    // Writing `final` may itself have closed the session (its client stopped reading).
    if (this.isClosed) return;
    this.phase = 'closed';
    this.services.hub.remove(this.userId, this);
    this.positions?.close();
    this.output.close();
    this.pending = [];
    this.pendingBytes = 0;
    if (reason === 'slow-client') this.connection.destroy();
    else this.connection.end();
    if (reason !== 'client') this.services.logger.debug({ userId: this.userId, reason }, 'bridge: stream closed');
    this.services.closed?.(this, reason);
    const listeners = this.onClosed;
    this.onClosed = null;
    for (const listener of listeners ?? []) listener(reason);
  }

  /**
   * The bridge's ticker, every tick: ends the stream when its credentials expired or it carried no
   * job event for `idleTimeoutMs`, else writes a heartbeat when one is due by `beatDueByMs` (a little
   * after now, so a ticker as fast as the heartbeat beats every tick). `heartbeat` builds the tick's
   * one shared frame on first use.
   */
  tick(nowMs: number, beatDueByMs: number, heartbeat: () => Frame): void {
    if (this.phase === 'closed') return;
    this.uncork();
    const { expiresAtMs } = this.request.principal;
    if (expiresAtMs !== undefined && nowMs >= expiresAtMs) {
      this.close('expired', EXPIRED_FRAME);
      return;
    }
    const { idleTimeoutMs, heartbeatMs } = this.services.options;
    if (idleTimeoutMs !== null && nowMs - this.lastJobEventAtMs >= idleTimeoutMs) {
      this.close(
        'idle',
        formatFrame({
          event: 'connection.idle',
          data: JSON.stringify({ reason: 'no job events', idleTime: nowMs - this.lastJobEventAtMs }),
        }),
      );
      return;
    }
    if (beatDueByMs >= this.nextBeatAtMs) {
      // A stream that carried an event within the interval is not silent: its beat waits for a
      // whole interval without one (a busy stream writes no heartbeats at all).
      const silentFromMs = this.lastJobEventAtMs + heartbeatMs;
      if (beatDueByMs < silentFromMs) this.nextBeatAtMs = silentFromMs;
      else {
        this.nextBeatAtMs = nowMs + heartbeatMs;
        this.write(heartbeat());
      }
    }
  }

  /**
   * Sends the response head (held back until the connect's first events follow it — `connected` and
   * its job.sync or replay — at most one tick of the ticker, so all leave in one write); `false` when
   * the client is gone.
   */
  private sendHead(): boolean {
    if (!this.connection.open(STREAM_HEAD)) {
      this.close('client');
      return false;
    }
    this.holding = true;
    return !this.isClosed;
  }

  /**
   * Sends `connected` and one `job.sync` per job to reconcile, reading the jobs page by page and
   * pacing on the socket. The last `job.sync` carries `cursor` as its `id:`; with nothing to sync,
   * `connected` does (`emptyHello`). Stops reading as soon as the stream closes. Returns the number
   * of jobs sent.
   */
  private async sync(
    cursor: string | null,
    hello: Frame,
    emptyHello: () => Frame,
    finishedSinceMs: number,
  ): Promise<number> {
    const { jobs, options } = this.services;
    const pages = syncPages(jobs, {
      principal: this.request.principal,
      filterJobId: this.request.filterJobId,
      finishedSinceMs,
      maxJobs: options.syncMaxJobs,
      cancelled: () => this.isClosed,
    });
    // Each job is held back until the next one is known, so the last one can carry the cursor.
    let held: SeennJob | null = null;
    let sent = 0;
    for await (const page of pages) {
      if (this.isClosed) return sent;
      for (const job of page) {
        if (held === null) this.sayHello(hello);
        else if (!(await this.sendSync(held, null))) return sent;
        else sent += 1;
        held = job;
      }
    }
    if (this.isClosed) return sent;
    if (held === null) {
      this.sayHello(emptyHello());
      return 0;
    }
    if (await this.sendSync(held, cursor)) sent += 1;
    return sent;
  }

  /** Writes one `job.sync` (with `cursor` as its `id:` when given) and waits for room; `false` once closed. */
  private async sendSync(job: SeennJob, cursor: string | null): Promise<boolean> {
    if (this.isClosed) return false;
    this.write(formatValue('job.sync', job, cursor === null ? {} : { id: cursor }));
    this.positions?.follow(job);
    this.output.shown(job.id, job.parent?.parentJobId);
    this.lastJobEventAtMs = Date.now();
    await this.drained();
    return !this.isClosed;
  }

  /** Writes the `connected` event; heartbeats start only after it. */
  private sayHello(frame: Frame): void {
    this.detach();
    this.write(frame);
    // The idle clock and the heartbeats count from here: the stream is open for its client.
    this.lastJobEventAtMs = Date.now();
    this.nextBeatAtMs = this.lastJobEventAtMs + this.services.options.heartbeatMs;
  }

  /**
   * Resolves once the socket has room again (at most half of `maxBufferedBytes` waiting), so a long
   * replay or sync paces itself on the client instead of tripping the slow-client bound. Live events
   * arriving meanwhile are buffered (and bounded) as during any catch-up. A socket that does not
   * drain within `drainTimeoutMs` is a client that stopped reading: the stream is cut.
   */
  private drained(): Promise<void> {
    const { connection } = this;
    if (this.isClosed || connection.bufferedBytes <= this.services.options.maxBufferedBytes / 2)
      return Promise.resolve();
    // Held-back bytes never drain: let them go first.
    this.uncork();
    return new Promise((resolve) => {
      const stop = connection.onDrain(() => {
        clearTimeout(deadline);
        resolve();
      });
      const deadline = setTimeout(() => {
        stop();
        this.close('slow-client');
        resolve();
      }, this.services.options.drainTimeoutMs);
      deadline.unref();
    });
  }

  /**
   * Reads the replay stream after {@link replayCursor} until its end, then hands over to live delivery,
   * dropping buffered events the read already covered. Runs once at a time; a resubscription arriving
   * meanwhile makes it read once more. With `read` false (a fresh connect whose subscription was
   * confirmed before its newest id was read), nothing can be missing: it only goes live.
   */
  private catchUp(read: boolean): Promise<void> {
    if (this.catchingUp !== null) {
      this.catchUpAgain = true;
      return this.catchingUp;
    }
    if (this.phase === 'closed') return Promise.resolve();
    this.phase = 'catching-up';
    const run = async (): Promise<void> => {
      let again = read;
      while (again && !this.isClosed) {
        this.catchUpAgain = false;
        await this.replay();
        again = this.catchUpAgain;
      }
      if (this.isClosed) return;
      const pending = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      this.phase = 'live';
      for (const event of pending) {
        if (this.isClosed) return;
        if (event instanceof PositionEvent) this.sendPosition(event);
        else this.handle(event);
      }
    };
    this.catchingUp = run().finally(() => {
      this.catchingUp = null;
    });
    return this.catchingUp;
  }

  /** Delivers every replay-stream entry after {@link replayCursor}; ends the stream if some were trimmed unseen. */
  private async replay(): Promise<void> {
    const { store } = this.services;
    for (;;) {
      // XRANGE first, then the oldest id: when the oldest is still ≤ the cursor after the read, nothing
      // after the cursor was trimmed before the read, so the read is complete.
      const [entries, first] = await Promise.all([
        store.readStream(this.userId, this.replayCursor, REPLAY_BATCH),
        store.firstStreamId(this.userId),
      ]);
      if (this.isClosed) return;
      if (this.replayCursor !== START && first !== null && compareStreamIds(first, this.replayCursor) > 0) {
        this.close('gap', GAP_FRAME);
        return;
      }
      await this.replayEntries(entries);
      if (this.isClosed || entries.length < REPLAY_BATCH) return;
    }
  }

  /** Delivers replay-stream entries in order, pacing on the socket; stops once the stream closes. */
  private async replayEntries(entries: readonly ReplayEntry[]): Promise<void> {
    for (const entry of entries) {
      if (this.isClosed) return;
      const event = StreamEvent.fromReplay(this.userId, entry);
      // The newest replayed state of a watched job carries its last known position too.
      this.handle(this.services.positions?.decorate(event) ?? event);
      await this.drained();
    }
  }

  /** Sends one event unless it was handled already or the stream's filter excludes it. */
  private handle(event: StreamEvent): void {
    if (compareStreamIds(event.id, this.replayCursor) <= 0) return;
    this.replayCursor = event.id;
    if (!this.wants(event)) return;
    this.lastJobEventAtMs = Date.now();
    this.write(event.frame);
    const { jobId, parentJobId } = event.refs;
    if (jobId !== undefined) this.output.shown(jobId, parentJobId);
    if (this.positions !== null) {
      const job = event.job;
      if (job !== null) this.positions.follow(job);
    }
  }

  /** Sends a position update if the stream still watches its job (it may have left the queue since). */
  private sendPosition(event: PositionEvent): void {
    if (this.positions?.shows(event.jobId) !== true) return;
    this.lastJobEventAtMs = Date.now();
    this.write(event.frame);
  }

  /**
   * For a connect with a cursor (recovered: no `job.sync`): the unfinished jobs this stream may show
   * as stored now, to watch those queued (none when live positions are off). Read before the replay,
   * so every later change of them reaches {@link handle} in order.
   */
  private async queuedJobs(): Promise<SeennJob[]> {
    if (this.positions === null) return [];
    return openJobsInScope(this.services.store, {
      principal: this.request.principal,
      filterJobId: this.request.filterJobId,
      maxJobs: this.services.options.syncMaxJobs,
    });
  }

  /** Whether the stream's `jobId` filter and the principal's job scope let `event` through. */
  private wants(event: StreamEvent): boolean {
    const { principal, filterJobId } = this.request;
    if (filterJobId === null && principal.jobIds === undefined) return true;
    const { jobId, parentJobId } = event.refs;
    if (filterJobId !== null && jobId !== filterJobId && parentJobId !== filterJobId) return false;
    return inScope(principal, jobId, parentJobId);
  }

  /** Writes one whole frame (one `write()`); disconnects a client whose unsent bytes pass the bound. */
  private write(frame: Frame): void {
    const { connection } = this;
    if (this.phase === 'closed' || !connection.writable) return;
    connection.write(frame);
    this.services.metrics.eventSent(frame.event);
    if (connection.bufferedBytes > this.services.options.maxBufferedBytes) this.close('slow-client');
  }

  /**
   * Takes the socket off the HTTP server when Node lets us (see `detach.ts`): from then on the session
   * holds no request, response or parser. Called with `connected`, after the connect's first Redis
   * read — never while the server's parser may still be working on the bytes that carried the request.
   */
  private detach(): void {
    if (this.isClosed || this.connection.released) return;
    if (this.connection.release()) this.services.detached?.(this);
  }

  /** Lets the head (and anything written after it) leave, if it is still held back. */
  private uncork(): void {
    if (!this.holding) return;
    this.holding = false;
    this.connection.flush();
  }

  /** Ends the stream after an `error` event (the client reconnects and recovers). */
  private fail(): void {
    this.close('error', FAILED_FRAME);
  }
}
