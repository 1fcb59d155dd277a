/**
 * `SeennClient`: one connection per user to the bridge's event stream, a cache of that user's jobs,
 * reconnects with jittered exponential backoff that resume from the last event id, and polling of
 * `GET /jobs/:id` for watched jobs while the stream is not possible. Works in browsers and Node ≥ 20.
 */
import type { EventSourceMessage } from 'eventsource-parser';
import {
  CHILD_PROGRESS_EVENT,
  JOB_EVENT_NAMES,
  type ChildJobSummary,
  type ParentWithChildSummaries,
  type SeennJob,
} from '../model/wire.js';
import { nextReconnectDelayMs } from './backoff.js';
import { Cursor, isAfter } from './cursor.js';
import { TypedEmitter } from './emitter.js';
import { SeennClientError } from './errors.js';
import { canStreamFetch, runEventStream, type StreamOutcome } from './event-stream.js';
import { authHeaders, requestJson, type HttpContext } from './http.js';
import { JobCache, isFinished, readJob, type ChildProgressUpdate } from './job-cache.js';
import { OutputReader, type OutputChunkEvent, type OutputIterationOptions } from './output.js';
import { resolveClientOptions, type ResolvedClientOptions, type SeennClientOptions } from './options.js';
import { TokenSource } from './token-source.js';

/**
 * Where the client stands:
 * `idle` (not connected yet) → `connecting` → `open` ⇄ `reconnecting`; `polling` while the stream is
 * not possible and watched jobs are polled instead; `closed` after {@link SeennClient.close} or a
 * problem retrying cannot fix.
 */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'polling' | 'closed';

/** Where a job update came from. */
export interface JobUpdateSource {
  /** `sse`: the event stream; `fetch`: a REST read; `poll`: a polling round. */
  via: 'sse' | 'fetch' | 'poll';
  /** The SSE event name (`job.progress`, `child.progress`, …) when `via` is `sse`. */
  event?: string;
  /** The SSE event id, when it had one. */
  id?: string;
}

/** The data of the bridge's `connected` event. */
export interface ConnectedInfo {
  userId?: string;
  /** `false`: the bridge did not know the cursor (or it was trimmed); `job.sync` events follow. */
  recovered?: boolean;
  [field: string]: unknown;
}

/** A reconnect the client scheduled. */
export interface ReconnectInfo {
  /** 1 for the first reconnect after a success, then 2, 3, … */
  attempt: number;
  /** How long the client waits before it tries. */
  delayMs: number;
  /** What ended the previous connection. */
  reason: 'ended' | 'heartbeat-timeout' | 'failed' | 'unauthorized' | 'unavailable' | 'token';
}

/** One raw SSE event, before the client interprets it. */
export interface RawEvent {
  event: string;
  id?: string;
  data: string;
}

/** A page of `GET /jobs`. */
export interface ClientJobPage {
  jobs: SeennJob[];
  nextCursor?: string;
}

/** The events of {@link SeennClient} and their listeners' arguments. */
export type SeennClientEvents = {
  /** A job was added to or replaced in the cache. */
  job: [job: SeennJob, source: JobUpdateSource];
  /** A `child.progress` event; `parent` is the merged cached parent, or `null` when it is not cached. */
  'child.progress': [update: ChildProgressUpdate, parent: SeennJob | null];
  /** The connection state changed. */
  state: [state: ConnectionState, previous: ConnectionState];
  /** The stream opened and the bridge said hello. */
  connected: [info: ConnectedInfo];
  /** A reconnect was scheduled. */
  reconnect: [info: ReconnectInfo];
  /** The bridge's heartbeat. */
  heartbeat: [data: unknown];
  /** A watched job answered 404 (unknown, expired or not this user's); it is no longer watched. */
  missing: [jobId: string];
  /** Something went wrong; the client carries on unless its state became `closed`. */
  error: [error: SeennClientError];
  /** Every SSE event as received (diagnostics). */
  event: [event: RawEvent];
};

type AbortReason = 'closed' | 'heartbeat-timeout' | 'superseded';

const JOB_EVENTS: ReadonlySet<string> = new Set(JOB_EVENT_NAMES);

/**
 * A client of the seenn-bullmq bridge (or any Seenn-compatible server).
 *
 * @example
 * ```ts
 * const client = new SeennClient({ baseUrl: '/v1', token: () => fetch('/my/token').then((r) => r.text()) });
 * client.on('job', (job) => console.log(job.title, job.progress));
 * client.connect();
 * ```
 */
export class SeennClient extends TypedEmitter<SeennClientEvents> {
  /** The resolved options. */
  readonly options: Readonly<ResolvedClientOptions>;
  private readonly tokens: TokenSource;
  private readonly http: HttpContext;
  private readonly cache: JobCache;
  private readonly cursor: Cursor;
  private readonly watchers = new Map<string, number>();
  private readonly missingJobs = new Set<string>();
  private readonly reads = new Map<string, Promise<SeennJob | null>>();
  private connectionState: ConnectionState = 'idle';
  private running = false;
  private lifecycle = new AbortController();
  private stream: AbortController | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private watchdogTimer: ReturnType<typeof setTimeout> | undefined;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private polling = false;
  private attempt = 0;
  private previousDelayMs: number;
  private failuresInRow = 0;

  /** @param options - see {@link SeennClientOptions}; validated here (throws `CLIENT_CONFIG_INVALID`). */
  constructor(options: SeennClientOptions) {
    super((error, event) => {
      if (event !== 'error')
        this.emit(
          'error',
          new SeennClientError('LISTENER_FAILED', `A '${String(event)}' listener threw`, { cause: error }),
        );
    });
    this.options = Object.freeze(resolveClientOptions(options));
    this.tokens = new TokenSource(this.options.token);
    this.http = {
      baseUrl: this.options.baseUrl,
      fetch: this.options.fetch,
      tokens: this.tokens,
      requestTimeoutMs: this.options.requestTimeoutMs,
    };
    this.cache = new JobCache(this.options.cacheMaxJobs, (jobId) => this.watchers.has(jobId));
    this.cursor = new Cursor(this.options.storage, this.options.storageKey, this.options.lastEventId, (error) =>
      this.emit('error', new SeennClientError('STORAGE_FAILED', 'The storage adapter failed', { cause: error })),
    );
    this.previousDelayMs = this.options.reconnectBaseMs;
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.connectionState;
  }

  /** The id of the last event applied: where the next connection resumes. */
  get lastEventId(): string | undefined {
    return this.cursor.current;
  }

  /** Opens the event stream (or starts polling when the stream is not possible). Idempotent. */
  connect(): void {
    if (this.running) return;
    this.running = true;
    if (this.lifecycle.signal.aborted) this.lifecycle = new AbortController();
    if (this.options.transport === 'polling' || !canStreamFetch()) {
      this.startPolling();
      return;
    }
    this.setState('connecting');
    void this.openStream();
  }

  /** Drops the current stream (if any) and connects again now, resuming from the last event id. */
  reconnect(): void {
    if (!this.running) {
      this.connect();
      return;
    }
    if (this.options.transport === 'polling') return;
    clearTimeout(this.reconnectTimer);
    this.attempt = 0;
    this.previousDelayMs = this.options.reconnectBaseMs;
    this.stream?.abort('superseded' satisfies AbortReason);
    if (!this.polling) this.setState('reconnecting');
    void this.openStream();
  }

  /** Closes the stream, stops polling and timers, aborts REST reads in flight. State becomes `closed`. */
  close(): void {
    this.stop();
    this.setState('closed');
  }

  /** The cached job, if any. */
  getJob(jobId: string): SeennJob | undefined {
    return this.cache.get(jobId);
  }

  /** Every cached job, newest first. */
  getJobs(): SeennJob[] {
    return this.cache.all();
  }

  /**
   * Marks a job as wanted: it is read once now when it is not cached, and polled while the client is
   * in `polling` state, until it reaches a final status or answers 404. Returns a function that
   * undoes this call (watching is counted, so several components can watch one job).
   */
  watch(jobId: string): () => void {
    const count = this.watchers.get(jobId) ?? 0;
    this.watchers.set(jobId, count + 1);
    if (count === 0) {
      this.missingJobs.delete(jobId);
      if (this.cache.get(jobId) === undefined) void this.fetchJob(jobId).catch((error: unknown) => this.report(error));
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.watchers.get(jobId) ?? 1) - 1;
      if (left <= 0) this.watchers.delete(jobId);
      else this.watchers.set(jobId, left);
    };
  }

  /** Whether `jobId` is watched and still needs watching (not final, not missing). */
  isWatching(jobId: string): boolean {
    if (!this.watchers.has(jobId) || this.missingJobs.has(jobId)) return false;
    const job = this.cache.get(jobId);
    return job === undefined || !isFinished(job);
  }

  /**
   * Reads one job over REST into the cache. Resolves `null` on 404; rejects with a
   * {@link SeennClientError} otherwise. Concurrent calls for one job share one request.
   */
  fetchJob(jobId: string): Promise<SeennJob | null> {
    let read = this.reads.get(jobId);
    if (read === undefined) {
      read = this.readJob(jobId, 'fetch').finally(() => this.reads.delete(jobId));
      this.reads.set(jobId, read);
    }
    return read;
  }

  /** Reads a page of the user's jobs (newest first) over REST into the cache. */
  async fetchJobs(options: { limit?: number; cursor?: string } = {}): Promise<ClientJobPage> {
    const query = new URLSearchParams();
    if (this.options.userId !== undefined) query.set('userId', this.options.userId);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    const search = query.toString();
    const suffix = search === '' ? '' : `?${search}`;
    const body = await requestJson(this.http, `/jobs${suffix}`, this.lifecycle.signal);
    const rawJobs = typeof body === 'object' && body !== null ? (body as { jobs?: unknown }).jobs : undefined;
    if (!Array.isArray(rawJobs)) throw new SeennClientError('BAD_RESPONSE', 'GET /jobs did not answer { jobs: [...] }');
    const jobs: SeennJob[] = [];
    for (const raw of rawJobs) {
      const job = readJob(raw);
      if (job !== null) jobs.push(this.applyJob(job, { via: 'fetch' }));
    }
    const nextCursor = (body as { nextCursor?: unknown }).nextCursor;
    return typeof nextCursor === 'string' ? { jobs, nextCursor } : { jobs };
  }

  /**
   * Cancels one of the user's jobs (`POST /jobs/:id/cancel`): resolves with the job as the server now
   * stores it (`cancelled`), which also goes into the cache (and to `job` listeners). Rejects with a
   * {@link SeennClientError}: `NOT_FOUND` for an unknown job or someone else's, `CONFLICT` when it had
   * already finished.
   */
  async cancel(jobId: string, options: { reason?: string } = {}): Promise<SeennJob> {
    const body = await requestJson(this.http, `/jobs/${encodeURIComponent(jobId)}/cancel`, this.lifecycle.signal, {
      method: 'POST',
      body: options,
    });
    const job = readJob(body);
    if (job === null)
      throw new SeennClientError('BAD_RESPONSE', `POST /jobs/${jobId}/cancel did not answer a job object`);
    return this.applyJob(job, { via: 'fetch' });
  }

  /**
   * One output stream of a job (`options.stream`, default `'output'`) as an async iterable of chunks
   * `{ jobId, stream, seq, chunk }`, in seq order, each once — across reconnects, which resume after
   * the last chunk yielded. It ends once the job has finished and all its output was read; it throws
   * a {@link SeennClientError} when it cannot go on (`NOT_FOUND` for an unknown job or someone
   * else's, `RECONNECT_FAILED`). It uses a stream of its own, filtered to the job; `break` or
   * `options.signal` closes it, and so does {@link close}.
   *
   * @example
   * ```ts
   * for await (const { chunk } of client.output(jobId)) text += chunk;
   * ```
   */
  output(jobId: string, options: OutputIterationOptions = {}): AsyncIterable<OutputChunkEvent> {
    return new OutputReader({ http: this.http, options: this.options, signal: this.lifecycle.signal }, jobId, options);
  }

  /** Reads a parent and its children over REST (the parent goes into the cache). Resolves `null` on 404. */
  async fetchChildren(parentId: string): Promise<ParentWithChildSummaries | null> {
    let body: unknown;
    try {
      body = await requestJson(this.http, `/jobs/${encodeURIComponent(parentId)}/children`, this.lifecycle.signal);
    } catch (error) {
      if (error instanceof SeennClientError && error.status === 404) return null;
      throw error;
    }
    const raw = typeof body === 'object' && body !== null ? (body as { parent?: unknown; children?: unknown }) : {};
    const parent = readJob(raw.parent);
    if (parent === null || !Array.isArray(raw.children))
      throw new SeennClientError('BAD_RESPONSE', `GET /jobs/${parentId}/children did not answer { parent, children }`);
    return { parent: this.applyJob(parent, { via: 'fetch' }), children: raw.children as ChildJobSummary[] };
  }

  // ── stream ────────────────────────────────────────────────────────────────────────────────────

  private async openStream(): Promise<void> {
    const controller = new AbortController();
    this.stream = controller;
    let token: string | undefined;
    try {
      token = await this.tokens.get();
    } catch (error) {
      if (this.stream !== controller || !this.running) return;
      this.report(error);
      this.scheduleReconnect('token');
      return;
    }
    if (this.stream !== controller || !this.running) return;
    const headers = authHeaders(token, 'text/event-stream');
    const resumeFrom = this.cursor.current;
    if (resumeFrom !== undefined) headers['Last-Event-ID'] = resumeFrom;
    const outcome = await runEventStream({
      url: this.streamUrl(resumeFrom),
      headers,
      fetch: this.options.fetch,
      signal: controller.signal,
      onOpen: () => this.onStreamOpen(controller),
      onEvent: (message) => this.onStreamEvent(message),
    });
    if (this.stream !== controller) return;
    this.stream = undefined;
    clearTimeout(this.watchdogTimer);
    if (!this.running) return;
    this.handleOutcome(outcome, controller.signal.reason as AbortReason | undefined, token);
  }

  private streamUrl(resumeFrom: string | undefined): string {
    const query = new URLSearchParams();
    if (this.options.userId !== undefined) query.set('userId', this.options.userId);
    if (resumeFrom !== undefined) query.set('lastEventId', resumeFrom);
    const search = query.toString();
    return `${this.options.baseUrl}/sse${search === '' ? '' : `?${search}`}`;
  }

  private handleOutcome(outcome: StreamOutcome, abortReason: AbortReason | undefined, token: string | undefined): void {
    switch (outcome.kind) {
      case 'aborted':
        if (abortReason === 'heartbeat-timeout') this.scheduleReconnect('heartbeat-timeout');
        return;
      case 'ended':
        if (outcome.error !== undefined)
          this.report(new SeennClientError('NETWORK_ERROR', 'The event stream broke', { cause: outcome.error }));
        this.scheduleReconnect('ended');
        return;
      case 'unauthorized':
        if (!this.tokens.canRefresh) {
          this.fail(outcome.error);
          return;
        }
        this.report(outcome.error);
        this.tokens.invalidate(token);
        this.scheduleReconnect('unauthorized');
        return;
      case 'unavailable':
        this.report(outcome.error);
        if (this.options.transport === 'auto') {
          this.startPolling();
          this.scheduleReconnect('unavailable', this.options.sseUnavailableRetryMs);
        } else {
          this.countFailure();
          this.scheduleReconnect('failed');
        }
        return;
      case 'rejected':
        this.fail(outcome.error);
        return;
      case 'failed':
        this.report(outcome.error);
        this.countFailure();
        this.scheduleReconnect('failed', outcome.retryAfterMs, true);
        return;
    }
  }

  private countFailure(): void {
    this.failuresInRow += 1;
    if (this.options.transport === 'auto' && this.failuresInRow >= this.options.sseFailuresBeforePolling)
      this.startPolling();
  }

  /**
   * Waits, then opens the stream again. `delayMs` is a fixed delay (a retry of an unavailable route)
   * or, with `atLeast`, a floor under the jittered backoff (`Retry-After`).
   */
  private scheduleReconnect(reason: ReconnectInfo['reason'], delayMs?: number, atLeast = false): void {
    if (this.attempt >= this.options.maxReconnectAttempts) {
      this.fail(
        new SeennClientError('RECONNECT_FAILED', `Gave up after ${this.attempt} reconnects in a row`, {
          details: { attempts: this.attempt },
        }),
      );
      return;
    }
    const { jitter, reconnectBaseMs, reconnectMaxMs, random } = this.options;
    let delay: number;
    if (delayMs !== undefined && !atLeast) {
      delay = delayMs;
    } else {
      delay = nextReconnectDelayMs({
        mode: jitter,
        attempt: this.attempt,
        previousMs: this.previousDelayMs,
        baseMs: reconnectBaseMs,
        maxMs: reconnectMaxMs,
        random,
      });
      this.previousDelayMs = Math.max(delay, reconnectBaseMs);
      if (delayMs !== undefined) delay = Math.max(delay, delayMs);
      this.attempt += 1;
    }
    if (!this.polling) this.setState('reconnecting');
    this.emit('reconnect', { attempt: Math.max(this.attempt, 1), delayMs: delay, reason });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.running) void this.openStream();
    }, delay);
  }

  private onStreamOpen(controller: AbortController): void {
    if (this.stream !== controller) return;
    this.failuresInRow = 0;
    this.stopPolling();
    this.setState('open');
    this.armWatchdog();
  }

  private armWatchdog(): void {
    clearTimeout(this.watchdogTimer);
    const stream = this.stream;
    this.watchdogTimer = setTimeout(
      () => stream?.abort('heartbeat-timeout' satisfies AbortReason),
      this.options.heartbeatTimeoutMs,
    );
  }

  private onStreamEvent(message: EventSourceMessage): void {
    if (!this.running) return;
    const name = message.event ?? 'message';
    const raw: RawEvent =
      message.id === undefined
        ? { event: name, data: message.data }
        : { event: name, id: message.id, data: message.data };
    this.emit('event', raw);
    // Any named event proves the stream alive (comments do not; the protocol sends heartbeats).
    if (message.event !== undefined) this.armWatchdog();
    const id = message.id !== undefined && message.id !== '' ? message.id : undefined;
    const fresh = id === undefined || isAfter(id, this.cursor.current);
    // A replayed event at or before the cursor was applied already: skip it (job.sync is a snapshot, always applied).
    if (!fresh && name !== 'job.sync' && JOB_EVENTS.has(name)) return;
    let data: unknown;
    try {
      data = message.data === '' ? undefined : JSON.parse(message.data);
    } catch (error) {
      this.report(new SeennClientError('BAD_RESPONSE', `The '${name}' event's data is not JSON`, { cause: error }));
      return;
    }
    this.applyStreamEvent(name, data, id);
    if (id !== undefined && fresh && this.running) this.cursor.set(id);
  }

  private applyStreamEvent(name: string, data: unknown, id: string | undefined): void {
    if (JOB_EVENTS.has(name)) {
      const job = readJob(data);
      if (job === null) {
        this.report(new SeennClientError('BAD_RESPONSE', `The '${name}' event carries no job object`));
        return;
      }
      this.applyJob(job, id === undefined ? { via: 'sse', event: name } : { via: 'sse', event: name, id });
      return;
    }
    switch (name) {
      case 'connected': {
        const info: ConnectedInfo = typeof data === 'object' && data !== null ? (data as ConnectedInfo) : {};
        this.attempt = 0;
        this.previousDelayMs = this.options.reconnectBaseMs;
        if (info.recovered === false) this.cursor.reset();
        this.emit('connected', info);
        return;
      }
      case CHILD_PROGRESS_EVENT: {
        const update = data as ChildProgressUpdate | undefined;
        if (typeof update !== 'object' || update === null || typeof update.parentJobId !== 'string') return;
        const parent = this.cache.mergeChildProgress(update);
        this.emit('child.progress', update, parent);
        if (parent !== null)
          this.emit('job', parent, id === undefined ? { via: 'sse', event: name } : { via: 'sse', event: name, id });
        return;
      }
      case 'heartbeat':
        this.emit('heartbeat', data);
        return;
      case 'error': {
        const body = typeof data === 'object' && data !== null ? (data as { code?: unknown; message?: unknown }) : {};
        const code = typeof body.code === 'string' ? body.code : 'SERVER_ERROR';
        this.report(
          new SeennClientError(code, typeof body.message === 'string' ? body.message : 'The bridge reported an error', {
            details: { ...body },
          }),
        );
        return;
      }
      default:
        // connection.idle (the bridge closes next and we reconnect), in_app_message and unknown events.
        return;
    }
  }

  // ── cache ─────────────────────────────────────────────────────────────────────────────────────

  /**
   * Puts a job into the cache and tells listeners. Stream events always win (the bridge orders them);
   * a REST answer that is older than the cached copy, or un-finishes a finished job, is ignored.
   */
  private applyJob(job: SeennJob, source: JobUpdateSource): SeennJob {
    if (source.via !== 'sse') {
      const cached = this.cache.get(job.id);
      if (cached !== undefined && (cached.updatedAt > job.updatedAt || (isFinished(cached) && !isFinished(job))))
        return cached;
    }
    this.cache.replace(job);
    this.emit('job', job, source);
    return job;
  }

  private async readJob(jobId: string, via: 'fetch' | 'poll'): Promise<SeennJob | null> {
    let body: unknown;
    try {
      body = await requestJson(this.http, `/jobs/${encodeURIComponent(jobId)}`, this.lifecycle.signal);
    } catch (error) {
      if (error instanceof SeennClientError && error.status === 404) {
        if (this.watchers.has(jobId) && !this.missingJobs.has(jobId)) {
          this.missingJobs.add(jobId);
          this.emit('missing', jobId);
        }
        return null;
      }
      throw error;
    }
    const job = readJob(body);
    if (job === null) throw new SeennClientError('BAD_RESPONSE', `GET /jobs/${jobId} did not answer a job object`);
    return this.applyJob(job, { via });
  }

  // ── polling ───────────────────────────────────────────────────────────────────────────────────

  private startPolling(): void {
    if (this.polling || !this.running) return;
    this.polling = true;
    this.setState('polling');
    void this.pollRound();
  }

  private stopPolling(): void {
    this.polling = false;
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** One round: each watched, unfinished job once, one after another (as the Seenn SDKs do). */
  private async pollRound(): Promise<void> {
    for (const jobId of [...this.watchers.keys()]) {
      if (!this.polling) return;
      if (!this.isWatching(jobId)) continue;
      try {
        await this.readJob(jobId, 'poll');
      } catch (error) {
        if (!this.polling) return;
        this.report(error);
      }
    }
    if (this.polling) this.pollTimer = setTimeout(() => void this.pollRound(), this.options.pollIntervalMs);
  }

  // ── lifecycle ─────────────────────────────────────────────────────────────────────────────────

  private setState(state: ConnectionState): void {
    const previous = this.connectionState;
    if (previous === state) return;
    this.connectionState = state;
    this.emit('state', state, previous);
  }

  private report(error: unknown): void {
    if (this.lifecycle.signal.aborted) return;
    this.emit(
      'error',
      error instanceof SeennClientError
        ? error
        : new SeennClientError('NETWORK_ERROR', error instanceof Error ? error.message : String(error), {
            cause: error,
          }),
    );
  }

  /** Stops for good after a problem retrying cannot fix. */
  private fail(error: SeennClientError): void {
    this.report(error);
    this.close();
  }

  private stop(): void {
    this.running = false;
    this.stopPolling();
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.watchdogTimer);
    this.reconnectTimer = undefined;
    const stream = this.stream;
    this.stream = undefined;
    stream?.abort('closed' satisfies AbortReason);
    this.lifecycle.abort();
  }
}
