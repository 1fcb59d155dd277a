/**
 * `client.output(jobId, { stream })`: one job stream's output as an async iterable of chunks, in seq
 * order, each once. It holds its own event stream, filtered to the job and the stream
 * (`/sse?jobId=…&output=…&outputAfter=<last seq>`), so every reconnect — jittered backoff, like the
 * main stream — resumes right after the last chunk it yielded. When the job is seen finished (its
 * `job.sync` or a final event), the rest of the output is read over REST
 * (`GET /jobs/:id/output`, page by page until no `next`) and the iteration ends: a job's output is
 * written before it finishes, so nothing can follow.
 */
import type { EventSourceMessage } from 'eventsource-parser';
import { OUTPUT_EVENT, TERMINAL_STATUSES, eventNameForStatus } from '../model/wire.js';
import { nextReconnectDelayMs } from './backoff.js';
import { SeennClientError } from './errors.js';
import { runEventStream } from './event-stream.js';
import { authHeaders, requestJson, type HttpContext } from './http.js';
import { isFinished, readJob } from './job-cache.js';
import type { ResolvedClientOptions } from './options.js';

/** One chunk of a job's output. */
export interface OutputChunkEvent {
  jobId: string;
  stream: string;
  /** Its number in the stream, from 0, without gaps. */
  seq: number;
  /** What the job appended (a string or a JSON value). */
  chunk: unknown;
}

/** Options of `client.output`. */
export interface OutputIterationOptions {
  /** The stream to read. @defaultValue 'output' */
  stream?: string;
  /** Start after this seq (`-1`: from the first chunk). @defaultValue -1 */
  after?: number;
  /** Stops the iteration (it ends without an error). */
  signal?: AbortSignal;
}

/** What the reader needs from its client. */
export interface OutputReaderContext {
  http: HttpContext;
  options: Readonly<ResolvedClientOptions>;
  /** Aborts when the client closes. */
  signal: AbortSignal;
}

/** The events that may show the job finished: its snapshot and the events of the final statuses. */
const FINAL_EVENTS: ReadonlySet<string> = new Set(['job.sync', ...[...TERMINAL_STATUSES].map(eventNameForStatus)]);
/** Chunks per REST page when reading the end of a finished job's output. */
const DRAIN_PAGE = 1_000;

/** Reads one job stream's output; see the module comment. */
export class OutputReader implements AsyncIterable<OutputChunkEvent> {
  private readonly queue: OutputChunkEvent[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private failure: unknown;
  private next: number;
  private readonly stream: string;
  private readonly controller = new AbortController();

  /**
   * @param ctx - the client's HTTP context and options
   * @param jobId - the job
   * @param options - see {@link OutputIterationOptions}
   */
  constructor(
    private readonly ctx: OutputReaderContext,
    private readonly jobId: string,
    options: OutputIterationOptions = {},
  ) {
    this.stream = options.stream ?? 'output';
    this.next = (options.after ?? -1) + 1;
    const stop = (): void => this.controller.abort();
    for (const signal of [ctx.signal, options.signal]) {
      if (signal === undefined) continue;
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<OutputChunkEvent> {
    const running = this.run().then(
      () => this.finish(),
      (error: unknown) => this.finish(error),
    );
    try {
      for (;;) {
        const chunk = this.queue.shift();
        if (chunk !== undefined) {
          yield chunk;
          continue;
        }
        if (this.ended) break;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
      if (this.failure !== undefined) throw this.failure;
    } finally {
      this.controller.abort();
      await running;
    }
  }

  private finish(error?: unknown): void {
    this.ended = true;
    if (error !== undefined && !this.controller.signal.aborted) this.failure = error;
    this.wake?.();
  }

  /** Queues the chunk the iteration is owed; `false` when `seq` is past it (a chunk is missing). */
  private push(seq: number, chunk: unknown): boolean {
    if (seq > this.next) return false;
    if (seq < this.next) return true;
    this.next += 1;
    this.queue.push({ jobId: this.jobId, stream: this.stream, seq, chunk });
    this.wake?.();
    return true;
  }

  /** Streams, reconnecting until the job is seen finished; then reads the rest over REST. */
  private async run(): Promise<void> {
    const { options } = this.ctx;
    let attempt = 0;
    let previousMs = options.reconnectBaseMs;
    while (!this.controller.signal.aborted) {
      const outcome = await this.streamOnce(() => {
        attempt = 0;
        previousMs = options.reconnectBaseMs;
      });
      if (outcome === 'finished') {
        await this.drain();
        return;
      }
      if (this.controller.signal.aborted) return;
      if (attempt >= options.maxReconnectAttempts)
        throw new SeennClientError(
          'RECONNECT_FAILED',
          `Gave up reading the output of ${this.jobId} after ${attempt} reconnects in a row`,
          { details: { attempts: attempt } },
        );
      const delayMs = nextReconnectDelayMs({
        mode: options.jitter,
        attempt,
        previousMs,
        baseMs: options.reconnectBaseMs,
        maxMs: options.reconnectMaxMs,
        random: options.random,
      });
      previousMs = Math.max(delayMs, options.reconnectBaseMs);
      attempt += 1;
      await this.delay(delayMs);
    }
  }

  /**
   * One connection: `'finished'` once the job is seen finished, `'retry'` when the stream ended or
   * failed in a way a reconnect may fix; throws when it cannot (404, 403, a bad request).
   */
  private async streamOnce(opened: () => void): Promise<'finished' | 'retry'> {
    const { http, options } = this.ctx;
    const connection = new AbortController();
    const abort = (): void => connection.abort();
    this.controller.signal.addEventListener('abort', abort, { once: true });
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const arm = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(abort, options.heartbeatTimeoutMs);
    };
    let finished = false;
    let token: string | undefined;
    try {
      token = await http.tokens.get();
    } catch {
      // The token provider failed: retried with the reconnect backoff.
      return 'retry';
    }
    try {
      const query = new URLSearchParams({ jobId: this.jobId, output: this.stream, outputAfter: String(this.next - 1) });
      if (options.userId !== undefined) query.set('userId', options.userId);
      const outcome = await runEventStream({
        url: `${http.baseUrl}/sse?${query.toString()}`,
        headers: authHeaders(token, 'text/event-stream'),
        fetch: options.fetch,
        signal: connection.signal,
        onOpen: () => {
          opened();
          arm();
        },
        onEvent: (message) => {
          arm();
          const seen = this.onEvent(message);
          if (seen === 'finished') finished = true;
          // A missing chunk (never sent by our bridge): reconnect, resuming after the last one taken.
          if (seen !== null) connection.abort();
        },
      });
      if (finished) return 'finished';
      switch (outcome.kind) {
        case 'unauthorized':
          http.tokens.invalidate(token);
          if (!http.tokens.canRefresh) throw outcome.error;
          return 'retry';
        case 'unavailable':
        case 'rejected':
          throw outcome.error;
        default:
          return 'retry';
      }
    } finally {
      clearTimeout(watchdog);
      this.controller.signal.removeEventListener('abort', abort);
    }
  }

  /** Takes one event: `'finished'` when it shows the job finished, `'gap'` when a chunk is missing. */
  private onEvent(message: EventSourceMessage): 'finished' | 'gap' | null {
    const name = message.event ?? 'message';
    if (name === OUTPUT_EVENT) {
      const data = parse(message.data) as
        { jobId?: unknown; stream?: unknown; seq?: unknown; chunk?: unknown } | undefined;
      if (data?.jobId !== this.jobId || data.stream !== this.stream || typeof data.seq !== 'number') return null;
      return this.push(data.seq, data.chunk) ? null : 'gap';
    }
    if (!FINAL_EVENTS.has(name)) return null;
    const job = readJob(parse(message.data));
    return job !== null && job.id === this.jobId && isFinished(job) ? 'finished' : null;
  }

  /** Reads the output after the last chunk over REST, page by page, to its end. */
  private async drain(): Promise<void> {
    const path = `/jobs/${encodeURIComponent(this.jobId)}/output`;
    for (;;) {
      const query = new URLSearchParams({
        stream: this.stream,
        after: String(this.next - 1),
        limit: String(DRAIN_PAGE),
      });
      const body = (await requestJson(this.ctx.http, `${path}?${query.toString()}`, this.controller.signal)) as {
        chunks?: unknown;
        next?: unknown;
      };
      if (!Array.isArray(body.chunks))
        throw new SeennClientError('BAD_RESPONSE', `GET ${path} did not answer { chunks: [...] }`);
      for (const entry of body.chunks as { seq?: unknown; chunk?: unknown }[])
        if (typeof entry.seq === 'number') this.push(entry.seq, entry.chunk);
      if (typeof body.next !== 'number' || this.controller.signal.aborted) return;
    }
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.controller.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.controller.signal.addEventListener('abort', done, { once: true });
    });
  }
}

function parse(data: string): unknown {
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return undefined;
  }
}
