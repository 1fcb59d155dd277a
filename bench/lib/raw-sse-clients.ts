/**
 * A load-generator process of raw-socket SSE clients (`node:net`, HTTP/1.1 with chunked decoding, a
 * few hundred bytes of state per stream), for the connection and reconnect-storm benchmarks. The
 * parent forks several (see {@link spawnSseClients}) to stay far below the per-process file limit
 * and to use both cores; each talks to `127.0.0.1` only.
 *
 * Per stream it keeps the ids of the job events it received, in order (`job.sync` excluded), its
 * cursor (the last `id:` seen, as `EventSource` does), heartbeats, closes, and the time it first saw
 * a job event whose `message` equals a marker. IPC from the parent:
 * - `{ type: 'open', port, streams: [{ key, token }], concurrency }`: opens the streams, at most
 *   `concurrency` waiting for their `connected` event at a time → `{ type: 'opened', ok, failed, ms, connectMs }`;
 * - `{ type: 'marker', marker }`: from now on, note when each stream first sees a job event whose
 *   `message` is `marker` → `{ type: 'marker-set' }`;
 * - `{ type: 'status' }` → `{ type: 'status', open, reached, heartbeats, jobEvents, closes, errors }`
 *   (`reached`: streams that saw the marker);
 * - `{ type: 'reconnect', port }`: reopens every closed stream at once with `Last-Event-ID`
 *   set to its cursor → `{ type: 'reconnecting', startedAt }`;
 * - `{ type: 'report' }` → `{ type: 'report', streams: StreamReport[] }`.
 * The process exits when its parent goes away.
 */
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { forkTs, nextMessage, request } from './processes.js';

/** One stream to open: `key` names it in reports (e.g. its user id). */
export interface StreamSpec {
  key: string;
  token: string;
}

/** What a client process reports per stream. */
export interface StreamReport {
  key: string;
  /** Replay-stream ids of the job events received, in arrival order. */
  ids: string[];
  syncs: number;
  heartbeats: number;
  closes: number;
  statusCodes: number[];
  /** `recovered` of the last `connected` event. */
  recovered: boolean | null;
  /** Wall-clock ms of the last `connected` event. */
  connectedAt: number | null;
  /** Wall-clock ms the marker event arrived (first time since the marker was set). */
  markerAt: number | null;
  /** Wall-clock ms this stream's process started the last `reconnect`. */
  reconnectAt: number | null;
}

/** Status counters summed over a client process's streams. */
export interface ClientStatus {
  type: 'status';
  open: number;
  reached: number;
  heartbeats: number;
  jobEvents: number;
  closes: number;
  errors: number;
}

const wallNow = (): number => performance.timeOrigin + performance.now();
const CONNECT_TIMEOUT_MS = 60_000;

class RawStream {
  socket: net.Socket | null = null;
  open = false;
  ids: string[] = [];
  syncs = 0;
  heartbeats = 0;
  jobEvents = 0;
  closes = 0;
  errors = 0;
  statusCodes: number[] = [];
  recovered: boolean | null = null;
  connectedAt: number | null = null;
  markerAt: number | null = null;
  reconnectAt: number | null = null;
  cursor: string | null = null;
  private head = '';
  private headDone = false;
  private chunked = false;
  private raw: Buffer = Buffer.alloc(0);
  private chunkState: 'size' | 'data' | 'crlf' = 'size';
  private chunkLeft = 0;
  private decoder = new StringDecoder('utf8');
  private text = '';
  private onConnected: ((ok: boolean) => void) | null = null;

  constructor(
    readonly key: string,
    private readonly token: string,
    private readonly state: { marker: string | null },
  ) {}

  /** Connects; resolves true on the `connected` event, false on failure or timeout. */
  connect(port: number): Promise<boolean> {
    this.resetParser();
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => finish(false), CONNECT_TIMEOUT_MS);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.onConnected = null;
        resolve(ok);
      };
      this.onConnected = finish;
      const socket = net.connect({ host: '127.0.0.1', port });
      this.socket = socket;
      socket.setNoDelay(true);
      socket.on('connect', () => {
        const cursor = this.cursor === null ? '' : `Last-Event-ID: ${this.cursor}\r\n`;
        socket.write(
          `GET /v1/sse HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${this.token}\r\n${cursor}\r\n`,
        );
      });
      socket.on('data', (data: Buffer) => this.receive(data));
      socket.on('error', () => {
        this.errors += 1;
      });
      socket.on('close', () => {
        if (this.open) this.closes += 1;
        this.open = false;
        this.socket = null;
        this.onConnected?.(false);
      });
    });
  }

  private resetParser(): void {
    this.head = '';
    this.headDone = false;
    this.chunked = false;
    this.raw = Buffer.alloc(0);
    this.chunkState = 'size';
    this.chunkLeft = 0;
    this.decoder = new StringDecoder('utf8');
    this.text = '';
  }

  private receive(data: Buffer): void {
    if (!this.headDone) {
      this.head += data.toString('latin1');
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = this.head.slice(0, end).split('\r\n');
      const status = Number(lines[0]?.split(' ')[1]);
      this.statusCodes.push(status);
      this.chunked = lines.some((line) => /^transfer-encoding:\s*chunked/i.test(line));
      const rest = Buffer.from(this.head.slice(end + 4), 'latin1');
      this.headDone = true;
      this.head = '';
      if (status !== 200) {
        this.socket?.destroy();
        return;
      }
      this.open = true;
      if (rest.length > 0) this.body(rest);
      return;
    }
    this.body(data);
  }

  private body(data: Buffer): void {
    if (!this.chunked) {
      this.onText(this.decoder.write(data));
      return;
    }
    this.raw = this.raw.length === 0 ? data : Buffer.concat([this.raw, data]);
    let offset = 0;
    for (;;) {
      if (this.chunkState === 'size') {
        const newline = this.raw.indexOf('\r\n', offset);
        if (newline < 0) break;
        this.chunkLeft = parseInt(this.raw.toString('latin1', offset, newline), 16);
        offset = newline + 2;
        if (this.chunkLeft === 0) {
          this.socket?.end();
          break;
        }
        this.chunkState = 'data';
      } else if (this.chunkState === 'data') {
        const take = Math.min(this.chunkLeft, this.raw.length - offset);
        if (take === 0) break;
        this.onText(this.decoder.write(this.raw.subarray(offset, offset + take)));
        offset += take;
        this.chunkLeft -= take;
        if (this.chunkLeft === 0) this.chunkState = 'crlf';
      } else {
        if (this.raw.length - offset < 2) break;
        offset += 2;
        this.chunkState = 'size';
      }
    }
    this.raw = offset >= this.raw.length ? Buffer.alloc(0) : this.raw.subarray(offset);
  }

  private onText(text: string): void {
    this.text += text;
    for (let end = this.text.indexOf('\n\n'); end >= 0; end = this.text.indexOf('\n\n')) {
      const block = this.text.slice(0, end);
      this.text = this.text.slice(end + 2);
      this.onEvent(block);
    }
  }

  private onEvent(block: string): void {
    let id: string | null = null;
    let event = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('id:')) id = line.slice(3).trim();
      else if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data = line.slice(5).trim();
    }
    if (id !== null && id !== '') this.cursor = id;
    if (event === 'heartbeat') {
      this.heartbeats += 1;
    } else if (event === 'connected') {
      this.connectedAt = wallNow();
      this.recovered = (JSON.parse(data) as { recovered?: boolean }).recovered ?? null;
      this.onConnected?.(true);
    } else if (event === 'job.sync') {
      this.syncs += 1;
    } else if (event.startsWith('job.') || event.startsWith('child.')) {
      this.jobEvents += 1;
      if (id !== null) this.ids.push(id);
      if (
        this.state.marker !== null &&
        this.markerAt === null &&
        (JSON.parse(data) as { message?: string }).message === this.state.marker
      )
        this.markerAt = wallNow();
    }
  }

  report(): StreamReport {
    return {
      key: this.key,
      ids: this.ids,
      syncs: this.syncs,
      heartbeats: this.heartbeats,
      closes: this.closes,
      statusCodes: this.statusCodes,
      recovered: this.recovered,
      connectedAt: this.connectedAt,
      markerAt: this.markerAt,
      reconnectAt: this.reconnectAt,
    };
  }
}

/** Opens `streams` keeping at most `concurrency` connects in flight; resolves the connect times. */
async function openAll(
  streams: RawStream[],
  port: number,
  concurrency: number,
): Promise<{ ok: number; failed: number; connectMs: number[] }> {
  let next = 0;
  let ok = 0;
  let failed = 0;
  const connectMs: number[] = [];
  const lane = async () => {
    while (next < streams.length) {
      const stream = streams[next++] as RawStream;
      const start = wallNow();
      if (await stream.connect(port)) {
        ok += 1;
        connectMs.push(wallNow() - start);
      } else failed += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, streams.length)) }, lane));
  return { ok, failed, connectMs };
}

function runClient(): void {
  const state: { marker: string | null } = { marker: null };
  let streams: RawStream[] = [];
  process.on(
    'message',
    (message: {
      type: string;
      port?: number;
      streams?: StreamSpec[];
      concurrency?: number;
      marker?: string | null;
    }) => {
      if (message.type === 'open') {
        streams = (message.streams ?? []).map((spec) => new RawStream(spec.key, spec.token, state));
        const start = wallNow();
        void openAll(streams, message.port as number, message.concurrency ?? 200).then((result) =>
          process.send?.({ type: 'opened', ...result, ms: wallNow() - start }),
        );
      } else if (message.type === 'status') {
        const status: ClientStatus = {
          type: 'status',
          open: 0,
          reached: 0,
          heartbeats: 0,
          jobEvents: 0,
          closes: 0,
          errors: 0,
        };
        for (const stream of streams) {
          if (stream.open) status.open += 1;
          if (stream.markerAt !== null) status.reached += 1;
          status.heartbeats += stream.heartbeats;
          status.jobEvents += stream.jobEvents;
          status.closes += stream.closes;
          status.errors += stream.errors;
        }
        process.send?.(status);
      } else if (message.type === 'marker') {
        state.marker = message.marker ?? null;
        for (const stream of streams) stream.markerAt = null;
        process.send?.({ type: 'marker-set' });
      } else if (message.type === 'reconnect') {
        const startedAt = wallNow();
        for (const stream of streams) {
          if (stream.open) continue;
          stream.reconnectAt = startedAt;
          void stream.connect(message.port as number);
        }
        process.send?.({ type: 'reconnecting', startedAt });
      } else if (message.type === 'report') {
        process.send?.({ type: 'report', streams: streams.map((stream) => stream.report()) });
      }
    },
  );
  process.once('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready' });
}

/** A group of client processes sharing out a set of streams. */
export interface SseClientGroup {
  children: ChildProcess[];
  /** Opens `streams` (split evenly over the processes); resolves when every process has answered. */
  open(
    port: number,
    streams: readonly StreamSpec[],
    concurrencyPerProcess: number,
  ): Promise<{ ok: number; failed: number; ms: number; connectMs: number[] }>;
  /** Sets the marker message (and forgets earlier marker times). */
  setMarker(marker: string): Promise<void>;
  /** Summed status counters. */
  status(): Promise<Omit<ClientStatus, 'type'>>;
  /** Tells every process to reopen its closed streams at once; resolves the earliest start time. */
  reconnect(port: number): Promise<number>;
  /** Every stream's report. */
  report(): Promise<StreamReport[]>;
}

/** Forks `processes` client processes and waits until each is ready. */
export async function spawnSseClients(processes: number): Promise<SseClientGroup> {
  const children = Array.from({ length: processes }, () =>
    forkTs(new URL(import.meta.url), { BENCH_ROLE: 'sse-clients' }),
  );
  await Promise.all(children.map((child) => nextMessage(child, 'ready', 30_000)));
  const timeout = 120_000;
  return {
    children,
    async open(port, streams, concurrencyPerProcess) {
      const start = wallNow();
      const replies = await Promise.all(
        children.map((child, i) =>
          request<{ type: 'opened'; ok: number; failed: number; connectMs: number[] }>(
            child,
            {
              type: 'open',
              port,
              streams: streams.filter((_, k) => k % processes === i),
              concurrency: concurrencyPerProcess,
            },
            'opened',
            timeout,
          ),
        ),
      );
      return {
        ok: replies.reduce((sum, reply) => sum + reply.ok, 0),
        failed: replies.reduce((sum, reply) => sum + reply.failed, 0),
        ms: wallNow() - start,
        connectMs: replies.flatMap((reply) => reply.connectMs),
      };
    },
    async setMarker(marker) {
      await Promise.all(children.map((child) => request(child, { type: 'marker', marker }, 'marker-set', timeout)));
    },
    async status() {
      const replies = await Promise.all(
        children.map((child) => request<ClientStatus>(child, { type: 'status' }, 'status', timeout)),
      );
      const sum = (field: Exclude<keyof ClientStatus, 'type'>) =>
        replies.reduce((total, reply) => total + reply[field], 0);
      return {
        open: sum('open'),
        reached: sum('reached'),
        heartbeats: sum('heartbeats'),
        jobEvents: sum('jobEvents'),
        closes: sum('closes'),
        errors: sum('errors'),
      };
    },
    async reconnect(port) {
      const replies = await Promise.all(
        children.map((child) =>
          request<{ type: 'reconnecting'; startedAt: number }>(
            child,
            { type: 'reconnect', port },
            'reconnecting',
            timeout,
          ),
        ),
      );
      return Math.min(...replies.map((reply) => reply.startedAt));
    },
    async report() {
      const replies = await Promise.all(
        children.map((child) =>
          request<{ type: 'report'; streams: StreamReport[] }>(child, { type: 'report' }, 'report', timeout),
        ),
      );
      return replies.flatMap((reply) => reply.streams);
    },
  };
}

if (process.env['BENCH_ROLE'] === 'sse-clients' && process.send !== undefined) runClient();
