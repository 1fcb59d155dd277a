/**
 * A load-generator process for the memory soak (raw `node:net` sockets to `127.0.0.1`). IPC:
 * - `{ type: 'cycles', port, tokens, count, concurrency }`: `count` connect/disconnect cycles, at most
 *   `concurrency` at a time, cycling through `tokens`; a cycle sends `GET /v1/sse`, waits for the
 *   `connected` event and destroys the socket → `{ type: 'cycles-done', ok, failed, ms }`;
 * - `{ type: 'stall', port, tokens }`: one stream per token whose socket never reads a byte (paused
 *   from the start, as a client whose process hangs) → `{ type: 'stalled', opened }` once every
 *   request is sent;
 * - `{ type: 'release' }`: destroys the stalled sockets → `{ type: 'released' }`.
 * Exits when its parent goes away.
 */
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { forkTs, nextMessage, request } from './processes.js';

/** A cycle that has not seen `connected` after this long counts as failed. */
const CYCLE_TIMEOUT_MS = 10_000;

function requestText(port: number, token: string): string {
  return `GET /v1/sse HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${token}\r\n\r\n`;
}

/** One connect → `connected` → destroy cycle; resolves whether it saw `connected`. */
function cycle(port: number, token: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let text = '';
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), CYCLE_TIMEOUT_MS);
    socket.on('connect', () => socket.write(requestText(port, token)));
    socket.on('data', (data: Buffer) => {
      text += data.toString('latin1');
      if (/event: ?connected\n/.test(text)) finish(true);
      else if (text.startsWith('HTTP/1.1 ') && !text.startsWith('HTTP/1.1 200')) finish(false);
    });
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
  });
}

function runClient(): void {
  const stalled: net.Socket[] = [];
  process.on(
    'message',
    (message: { type: string; port?: number; tokens?: string[]; count?: number; concurrency?: number }) => {
      const port = message.port ?? 0;
      const tokens = message.tokens ?? [];
      if (message.type === 'cycles') {
        const started = performance.now();
        let next = 0;
        let ok = 0;
        let failed = 0;
        const count = message.count ?? 0;
        const lane = async (): Promise<void> => {
          while (next < count) {
            const token = tokens[next % tokens.length] as string;
            next += 1;
            if (await cycle(port, token)) ok += 1;
            else failed += 1;
          }
        };
        void Promise.all(Array.from({ length: message.concurrency ?? 1 }, lane)).then(() =>
          process.send?.({ type: 'cycles-done', ok, failed, ms: performance.now() - started }),
        );
      } else if (message.type === 'stall') {
        let sent = 0;
        for (const token of tokens) {
          const socket = net.connect({ host: '127.0.0.1', port });
          socket.pause();
          socket.on('error', () => undefined);
          socket.on('connect', () => {
            socket.write(requestText(port, token));
            sent += 1;
            if (sent === tokens.length) process.send?.({ type: 'stalled', opened: sent });
          });
          stalled.push(socket);
        }
      } else if (message.type === 'release') {
        for (const socket of stalled.splice(0)) socket.destroy();
        process.send?.({ type: 'released' });
      }
    },
  );
  process.once('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready' });
}

/** The soak's client processes. */
export interface SoakClients {
  children: ChildProcess[];
  /** Runs `count` cycles over the processes (split evenly), `concurrency` at a time in each. */
  cycles(
    port: number,
    tokens: readonly string[],
    count: number,
    concurrency: number,
  ): Promise<{ ok: number; failed: number; ms: number }>;
  /** Opens one stalled stream per token (split over the processes). */
  stall(port: number, tokens: readonly string[]): Promise<number>;
  /** Closes every stalled stream. */
  release(): Promise<void>;
}

/** Forks `processes` soak client processes. */
export async function spawnSoakClients(processes: number): Promise<SoakClients> {
  const children = Array.from({ length: processes }, () =>
    forkTs(new URL(import.meta.url), { BENCH_ROLE: 'soak-clients' }),
  );
  await Promise.all(children.map((child) => nextMessage(child, 'ready', 30_000)));
  const timeout = 30 * 60_000;
  return {
    children,
    async cycles(port, tokens, count, concurrency) {
      const replies = await Promise.all(
        children.map((child, i) =>
          request<{ type: 'cycles-done'; ok: number; failed: number; ms: number }>(
            child,
            {
              type: 'cycles',
              port,
              tokens: tokens.filter((_, k) => k % processes === i),
              count: Math.floor(count / processes) + (i < count % processes ? 1 : 0),
              concurrency,
            },
            'cycles-done',
            timeout,
          ),
        ),
      );
      return {
        ok: replies.reduce((sum, r) => sum + r.ok, 0),
        failed: replies.reduce((sum, r) => sum + r.failed, 0),
        ms: Math.max(...replies.map((r) => r.ms)),
      };
    },
    async stall(port, tokens) {
      const replies = await Promise.all(
        children.map((child, i) =>
          request<{ type: 'stalled'; opened: number }>(
            child,
            { type: 'stall', port, tokens: tokens.filter((_, k) => k % processes === i) },
            'stalled',
            60_000,
          ),
        ),
      );
      return replies.reduce((sum, r) => sum + r.opened, 0);
    },
    async release() {
      await Promise.all(children.map((child) => request(child, { type: 'release' }, 'released', 60_000)));
    },
  };
}

if (process.env['BENCH_ROLE'] === 'soak-clients' && process.send !== undefined) runClient();
