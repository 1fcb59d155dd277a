/**
 * Bridge test helpers: a bridge on a real HTTP server (port 0), a stand-in publisher that commits job
 * changes through the real store (so the applyChanges script appends and publishes them), an
 * `eventsource` client that records what it receives, and a raw-socket client that records the exact
 * bytes of each write.
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { EventSource } from 'eventsource';
import express from 'express';
import type { Redis } from 'ioredis';
import { Seenn } from '../../src/seenn.js';
import type { ExpressBridgeOptions } from '../../src/bridge/index.js';
import type { Logger } from '../../src/logger.js';
import { CHILD_PROGRESS_EVENT, JOB_EVENT_NAMES, OUTPUT_EVENT, eventNameForStatus } from '../../src/model/wire.js';
import type { JobStatus, SeennJob } from '../../src/model/job.js';
import type { JobRecord } from '../../src/model/record.js';
import { createRecord } from '../../src/model/reducer.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';

/** The HS256 secret of every test Seenn. */
export const SECRET = 'test-secret-test-secret-test-secret-0123456789';

/** A running bridge on a real HTTP server. */
export interface TestBridge {
  seenn: Seenn;
  redis: Redis;
  prefix: string;
  server: http.Server;
  /** `http://127.0.0.1:<port>/v1` */
  baseUrl: string;
  port: number;
  router: ReturnType<Seenn['bridge']>;
  close(): Promise<void>;
}

/** Starts a Seenn + Express app with the bridge at `/v1` on a free port. */
export async function startBridge(
  options: ExpressBridgeOptions = {},
  extra: {
    prefix?: string;
    logger?: Logger;
    replayMaxEntries?: number;
    dropPrefix?: boolean;
    redisUrl?: string;
    beforeRouter?: express.RequestHandler;
  } = {},
): Promise<TestBridge> {
  const prefix = extra.prefix ?? uniquePrefix('bridge');
  const redis = connect(extra.redisUrl);
  const seenn = new Seenn({
    connection: redis,
    prefix,
    tokenSecret: SECRET,
    ...(extra.logger === undefined ? {} : { logger: extra.logger }),
    ...(extra.replayMaxEntries === undefined ? {} : { retention: { replayMaxEntries: extra.replayMaxEntries } }),
  });
  const router = seenn.bridge({ heartbeatMs: 200, retryMs: 50, retryJitterMs: 50, ...options });
  const app = express();
  if (extra.beforeRouter !== undefined) app.use(extra.beforeRouter);
  app.use('/v1', router);
  const server = http.createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    seenn,
    redis,
    prefix,
    server,
    port,
    baseUrl: `http://127.0.0.1:${port}/v1`,
    router,
    close() {
      closing ??= (async () => {
        await seenn.close();
        server.closeAllConnections();
        server.close();
        if (extra.dropPrefix !== false) await deletePrefix(redis, prefix);
        await redis.quit();
      })();
      return closing;
    },
  };
}

/**
 * Stands in for the publisher: creates jobs and commits their changes through `JobStore.commit`, so
 * every change is appended to the user's replay stream and published live, as in production.
 */
export class JobWriter {
  private readonly records = new Map<string, { record: JobRecord; version: number }>();
  private clockMs = Date.now();

  /** @param seenn - the Seenn whose store receives the changes */
  constructor(private readonly seenn: Seenn) {}

  /** Creates a queued job of `userId`; returns the entry id of its `job.started` event. */
  async create(
    userId: string,
    jobId: string,
    extra: { parentJobId?: string; childIndex?: number; children?: number } = {},
  ): Promise<string> {
    const descriptor = {
      userId,
      jobType: 'test',
      title: `Job ${jobId}`,
      ...(extra.parentJobId === undefined
        ? {}
        : { parent: { parentJobId: extra.parentJobId, childIndex: extra.childIndex ?? 0 } }),
    };
    const record = createRecord(jobId, this.seenn.context.options.appId, descriptor, {
      queueName: 'q',
      bullId: jobId,
      createdAtMs: this.tick(),
      maxAttempts: 1,
      state: 'waiting',
    });
    if (extra.children !== undefined)
      record.job.children = { total: extra.children, completed: 0, failed: 0, running: 0, pending: extra.children };
    await this.seenn.context.store.claimOwner(jobId, userId);
    return this.commit(record, 0, true);
  }

  /** Sets a job's progress (running); returns the event's entry id. */
  progress(jobId: string, progress: number, message?: string, padding?: string): Promise<string> {
    return this.update(jobId, (job) => {
      job.status = 'running';
      job.progress = progress;
      if (message !== undefined) job.message = message;
      if (padding !== undefined) job.metadata = { padding };
    });
  }

  /** Moves a job to a terminal status; returns the event's entry id. */
  finish(
    jobId: string,
    status: Extract<JobStatus, 'completed' | 'failed' | 'cancelled'> = 'completed',
  ): Promise<string> {
    return this.update(jobId, (job) => {
      job.status = status;
      if (status === 'completed') job.progress = 100;
      job.completedAt = new Date(this.clockMs).toISOString();
    });
  }

  /** The job as last written. */
  job(jobId: string): SeennJob {
    const entry = this.records.get(jobId);
    if (entry === undefined) throw new Error(`unknown job ${jobId}`);
    return entry.record.job;
  }

  private async update(jobId: string, change: (job: SeennJob) => void): Promise<string> {
    const entry = this.records.get(jobId);
    if (entry === undefined) throw new Error(`unknown job ${jobId}`);
    const job: SeennJob = { ...entry.record.job, updatedAt: new Date(this.tick()).toISOString() };
    change(job);
    return this.commit({ job, x: entry.record.x }, entry.version, false);
  }

  private async commit(record: JobRecord, expectedVersion: number, index: boolean): Promise<string> {
    const result = await this.seenn.context.store.commit(record.job.userId, [
      {
        expectedVersion,
        record,
        event: { name: eventNameForStatus(record.job.status), data: JSON.stringify(record.job) },
        index,
      },
    ]);
    if (result.status !== 'ok') throw new Error(`commit ${result.status}`);
    this.records.set(record.job.id, { record, version: expectedVersion + 1 });
    return result.entryIds[0] as string;
  }

  private tick(): number {
    this.clockMs = Math.max(Date.now(), this.clockMs + 1);
    return this.clockMs;
  }
}

/** One event as a client saw it. */
export interface SeenEvent {
  type: string;
  id: string;
  data: Record<string, unknown>;
}

/**
 * The SSE event names the bridge sends: the wire's job, child-progress and output events
 * (`model/wire.ts`), and the stream's own control events.
 */
export const EVENT_NAMES = [
  'connected',
  ...JOB_EVENT_NAMES,
  CHILD_PROGRESS_EVENT,
  OUTPUT_EVENT,
  'heartbeat',
  'connection.idle',
  'error',
] as const;

/** An `eventsource` (v4) client that records every named event it receives. */
export class RecordingEventSource {
  readonly events: SeenEvent[] = [];
  readonly source: EventSource;
  opens = 0;
  errors = 0;

  /**
   * @param url - the stream URL
   * @param options - `token` (sent as `Authorization: Bearer`), and `resolveUrl` to send each
   *   (re)connection elsewhere (a stand-in for a load balancer)
   */
  constructor(
    url: string,
    options: { token?: string; lastEventId?: string; resolveUrl?: (url: string) => string } = {},
  ) {
    const { token, lastEventId, resolveUrl } = options;
    this.source = new EventSource(url, {
      fetch: (input, init) => {
        const headers = new Headers(init.headers);
        if (token !== undefined) headers.set('Authorization', `Bearer ${token}`);
        if (lastEventId !== undefined && !headers.has('Last-Event-ID')) headers.set('Last-Event-ID', lastEventId);
        const target = resolveUrl ? resolveUrl(String(input)) : String(input);
        return fetch(target, { ...init, headers });
      },
    });
    this.source.addEventListener('open', () => {
      this.opens += 1;
    });
    this.source.addEventListener('error', () => {
      this.errors += 1;
    });
    for (const name of EVENT_NAMES) {
      this.source.addEventListener(name, (event: MessageEvent<string>) => {
        // The `error` listener also hears connection errors, which carry no data.
        if (typeof event.data !== 'string') return;
        this.events.push({
          type: name,
          id: event.lastEventId,
          data: JSON.parse(event.data) as Record<string, unknown>,
        });
      });
    }
  }

  /** Events of these types, in order. */
  ofType(...types: string[]): SeenEvent[] {
    return this.events.filter((event) => types.includes(event.type));
  }

  /** Job events that carry a job object (everything but sync and output, in order). */
  jobEvents(): SeenEvent[] {
    return this.events.filter(
      (event) => event.type.startsWith('job.') && event.type !== 'job.sync' && event.type !== 'job.output',
    );
  }

  close(): void {
    this.source.close();
  }
}

/** One event block as it appeared on the wire. */
export interface RawBlock {
  lines: string[];
  event?: string;
  id?: string;
  data?: string;
  retry?: string;
}

/**
 * A raw-socket SSE client speaking HTTP/1.1 by hand. It records the response head, every HTTP chunk
 * (one chunk = one `write()` by the server) and the event blocks.
 */
export class RawSseClient {
  readonly socket: net.Socket;
  status = 0;
  headers: Record<string, string> = {};
  readonly chunks: string[] = [];
  readonly blocks: RawBlock[] = [];
  /** Total body bytes received. */
  bodyBytes = 0;
  private buffer = Buffer.alloc(0);
  private headDone = false;
  private markEnded: () => void = () => undefined;
  /** Resolves when the response ends (its last chunk) or the socket closes. */
  readonly ended: Promise<void>;

  /**
   * @param port - the bridge's port
   * @param path - e.g. `/v1/sse?token=…`
   * @param headers - extra request headers
   */
  constructor(port: number, path: string, headers: Record<string, string> = {}) {
    this.socket = net.connect(port, '127.0.0.1');
    const head = [
      `GET ${path} HTTP/1.1`,
      'Host: 127.0.0.1',
      'Accept: text/event-stream',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      '',
      '',
    ].join('\r\n');
    this.socket.write(head);
    this.socket.on('data', (data: Buffer) => this.onData(data));
    this.socket.on('error', () => undefined);
    this.ended = new Promise((resolve) => {
      this.markEnded = resolve;
      this.socket.once('close', () => resolve());
    });
  }

  /** Stops reading from the socket (a stalled client). */
  stall(): void {
    this.socket.pause();
  }

  close(): void {
    this.socket.destroy();
  }

  /** Blocks of these event types. */
  ofType(...types: string[]): RawBlock[] {
    return this.blocks.filter((block) => block.event !== undefined && types.includes(block.event));
  }

  private onData(data: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, data]);
    if (!this.headDone) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine = '', ...headerLines] = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
      this.status = Number(statusLine.split(' ')[1]);
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        this.headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      this.buffer = this.buffer.subarray(end + 4);
      this.headDone = true;
    }
    if (this.headers['transfer-encoding'] !== 'chunked') {
      // A non-streaming answer (an error envelope with Content-Length): keep it whole.
      const length = Number(this.headers['content-length'] ?? Number.NaN);
      if (this.buffer.length >= length) {
        this.chunks.push(this.buffer.subarray(0, length).toString('utf8'));
        this.markEnded();
      }
      return;
    }
    for (;;) {
      const lineEnd = this.buffer.indexOf('\r\n');
      if (lineEnd < 0) return;
      const size = Number.parseInt(this.buffer.subarray(0, lineEnd).toString('latin1'), 16);
      if (this.buffer.length < lineEnd + 2 + size + 2) return;
      const chunk = this.buffer.subarray(lineEnd + 2, lineEnd + 2 + size).toString('utf8');
      this.buffer = this.buffer.subarray(lineEnd + 2 + size + 2);
      if (size === 0) {
        this.markEnded();
        return;
      }
      this.chunks.push(chunk);
      this.bodyBytes += size;
      this.parseBlocks(chunk);
    }
  }

  private parseBlocks(chunk: string): void {
    for (const text of chunk.split('\n\n')) {
      if (text === '') continue;
      const block: RawBlock = { lines: text.split('\n') };
      for (const line of block.lines) {
        const colon = line.indexOf(':');
        const field = line.slice(0, colon);
        const value = line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event' || field === 'id' || field === 'data' || field === 'retry') block[field] = value;
      }
      this.blocks.push(block);
    }
  }
}

/** Fetches `url` with a bearer token and returns status, headers and the parsed JSON body. */
export async function getJson(
  url: string,
  token?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    headers: { ...headers, ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }) },
  });
  const body = (await response.json()) as Record<string, unknown>;
  return { status: response.status, headers: response.headers, body };
}
