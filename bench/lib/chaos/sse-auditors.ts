/**
 * A process of SSE clients for the chaos soak, each following one user's stream the way an
 * `EventSource` does: on a close, an error, a non-200 answer or 10 s of silence it reconnects after a
 * short pause to the next bridge of its list, with `Last-Event-ID` set to the last `id:` it saw. Each
 * client records every job event it receives with an `id:`, in arrival order, over all its
 * connections (the input of `audit.ts`), plus its connects, `recovered: false` connects, `job.sync`
 * events and payloads that do not parse as a Seenn job. IPC from the parent:
 * - `{ type: 'open', ports, clients: [{ key, token }] }` → `{ type: 'opened' }` once every client has
 *   had its first `connected` event;
 * - `{ type: 'status' }` → `{ type: 'status', open, cursors, finished }` (`cursors`: clients that
 *   have a cursor; `finished`: jobs whose `completed` a client saw, summed);
 * - `{ type: 'report' }` → `{ type: 'report', clients: ClientReport[] }`.
 * Node's `http` with one socket per stream; the SSE parsing is `eventsource-parser`'s. Exits when its
 * parent goes away.
 */
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { SeennJobSchema } from '../../../src/model/job.js';
import { forkTs, nextMessage, request } from '../processes.js';
import type { SeenEvent } from './audit.js';

/** One client to run: `key` is its user id. */
export interface ClientSpec {
  key: string;
  token: string;
}

/** What a client reports at the end. */
export interface ClientReport {
  key: string;
  events: SeenEvent[];
  connects: number;
  unrecovered: number;
  syncs: number;
  malformed: number;
  statusCodes: Record<string, number>;
}

/** No byte for this long (heartbeats come every few seconds) → the client gives up on the connection. */
const SILENCE_MS = 10_000;
/** Pause before a reconnect: 100 to 400 ms. */
const RECONNECT_MIN_MS = 100;
const RECONNECT_SPREAD_MS = 300;

class AuditingClient {
  readonly events: SeenEvent[] = [];
  readonly finished = new Set<string>();
  readonly statusCodes: Record<string, number> = {};
  connects = 0;
  unrecovered = 0;
  syncs = 0;
  malformed = 0;
  open = false;
  private cursor: string | null = null;
  private next: number;
  private firstConnected: (() => void) | null;
  private silence: NodeJS.Timeout | undefined;

  constructor(
    readonly key: string,
    private readonly token: string,
    private readonly ports: readonly number[],
    start: number,
    onFirstConnected: () => void,
  ) {
    this.next = start;
    this.firstConnected = onFirstConnected;
  }

  connect(): void {
    const port = this.ports[this.next % this.ports.length] as number;
    this.next += 1;
    const headers: Record<string, string> = { Accept: 'text/event-stream', Authorization: `Bearer ${this.token}` };
    if (this.cursor !== null) headers['Last-Event-ID'] = this.cursor;
    let retried = false;
    const retry = (): void => {
      if (retried) return;
      retried = true;
      this.open = false;
      clearTimeout(this.silence);
      setTimeout(() => this.connect(), RECONNECT_MIN_MS + Math.random() * RECONNECT_SPREAD_MS);
    };
    const req = http.get({ host: '127.0.0.1', port, path: '/v1/sse', headers, agent: false });
    this.watch(req);
    req.on('error', retry);
    req.on('close', retry);
    req.on('response', (res) => {
      const code = String(res.statusCode ?? 0);
      this.statusCodes[code] = (this.statusCodes[code] ?? 0) + 1;
      if (res.statusCode !== 200) {
        res.resume();
        req.destroy();
        return;
      }
      this.open = true;
      const parser = createParser({ onEvent: (message) => this.onEvent(message) });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        this.watch(req);
        parser.feed(chunk);
      });
      res.on('error', retry);
      res.on('close', retry);
    });
  }

  /** (Re)arms the silence watchdog of `req`. */
  private watch(req: http.ClientRequest): void {
    clearTimeout(this.silence);
    this.silence = setTimeout(() => req.destroy(), SILENCE_MS);
  }

  /** Whether the client has a cursor to reconnect with (it saw an `id:`). */
  get hasCursor(): boolean {
    return this.cursor !== null;
  }

  private onEvent(message: EventSourceMessage): void {
    const hadCursor = this.cursor !== null;
    // As EventSource does: any event's non-empty `id:` becomes the cursor.
    if (message.id !== undefined && message.id !== '') this.cursor = message.id;
    if (message.event === 'connected') {
      this.connects += 1;
      const data = JSON.parse(message.data) as { recovered?: unknown };
      if (hadCursor && data.recovered !== true) this.unrecovered += 1;
      this.firstConnected?.();
      this.firstConnected = null;
      return;
    }
    if (message.event === 'job.sync') {
      this.syncs += 1;
      return;
    }
    if (message.id === undefined || message.id === '' || message.event?.startsWith('job.') !== true) return;
    const parsed = SeennJobSchema.safeParse(JSON.parse(message.data));
    if (!parsed.success) {
      this.malformed += 1;
      return;
    }
    const job = parsed.data;
    const token = (job.result as { token?: unknown } | undefined)?.token;
    this.events.push({
      id: message.id,
      event: message.event,
      jobId: job.id,
      status: job.status,
      progress: job.progress,
      message: job.message ?? null,
      attempt: job.attempt?.current ?? 1,
      resultToken: typeof token === 'string' ? token : null,
    });
    if (job.status === 'completed') this.finished.add(job.id);
  }

  report(): ClientReport {
    return {
      key: this.key,
      events: this.events,
      connects: this.connects,
      unrecovered: this.unrecovered,
      syncs: this.syncs,
      malformed: this.malformed,
      statusCodes: this.statusCodes,
    };
  }
}

function runClients(): void {
  let clients: AuditingClient[] = [];
  process.on('message', (message: { type: string; ports?: number[]; clients?: ClientSpec[] }) => {
    if (message.type === 'open') {
      const specs = message.clients ?? [];
      let waiting = specs.length;
      const onFirst = (): void => {
        waiting -= 1;
        if (waiting === 0) process.send?.({ type: 'opened' });
      };
      clients = specs.map((spec, i) => new AuditingClient(spec.key, spec.token, message.ports ?? [], i, onFirst));
      for (const client of clients) client.connect();
    } else if (message.type === 'status') {
      process.send?.({
        type: 'status',
        open: clients.filter((client) => client.open).length,
        cursors: clients.filter((client) => client.hasCursor).length,
        finished: clients.reduce((sum, client) => sum + client.finished.size, 0),
      });
    } else if (message.type === 'report') {
      process.send?.({ type: 'report', clients: clients.map((client) => client.report()) });
    }
  });
  process.once('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready' });
}

/** Counters summed over the clients of a group. */
export interface AuditorStatus {
  open: number;
  cursors: number;
  finished: number;
}

/** The client processes of a run. */
export interface AuditorGroup {
  children: ChildProcess[];
  /** Clients with an open stream, clients with a cursor, and jobs whose `completed` was seen, over every process. */
  status(): Promise<AuditorStatus>;
  /** Every client's report. */
  report(): Promise<ClientReport[]>;
}

/** Forks `processes` client processes, shares `clients` out among them and waits until each client is connected. */
export async function spawnAuditors(
  processes: number,
  ports: readonly number[],
  clients: readonly ClientSpec[],
  timeoutMs: number,
): Promise<AuditorGroup> {
  const children = Array.from({ length: processes }, () =>
    forkTs(new URL(import.meta.url), { BENCH_ROLE: 'chaos-auditors' }),
  );
  await Promise.all(children.map((child) => nextMessage(child, 'ready', timeoutMs)));
  await Promise.all(
    children.map((child, i) =>
      request(
        child,
        { type: 'open', ports, clients: clients.filter((_, k) => k % processes === i) },
        'opened',
        timeoutMs,
      ),
    ),
  );
  return {
    children,
    async status() {
      const replies = await Promise.all(
        children.map((child) =>
          request<AuditorStatus & { type: 'status' }>(child, { type: 'status' }, 'status', timeoutMs),
        ),
      );
      const sum = (field: keyof AuditorStatus): number => replies.reduce((total, reply) => total + reply[field], 0);
      return { open: sum('open'), cursors: sum('cursors'), finished: sum('finished') };
    },
    async report() {
      const replies = await Promise.all(
        children.map((child) =>
          request<{ type: 'report'; clients: ClientReport[] }>(child, { type: 'report' }, 'report', timeoutMs),
        ),
      );
      return replies.flatMap((reply) => reply.clients);
    },
  };
}

if (process.env['BENCH_ROLE'] === 'chaos-auditors' && process.send !== undefined) runClients();
