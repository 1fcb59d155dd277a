/**
 * The chaos soak's own `redis-server`, which it SIGKILLs and starts again: persistence on (AOF,
 * `appendfsync always`, in a temporary directory), so that every write Redis acknowledged survives a
 * kill, as on a production Redis with AOF. Always a private server on a free loopback port, never
 * `REDIS_URL`: the soak kills it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, stopProcess, waitForRedis } from '../../../examples/lib/redis-server.js';
import { stopChild, track } from '../processes.js';

/** A persistent redis-server that can be killed and started again on the same port and files. */
export interface PersistentRedis {
  readonly port: number;
  readonly url: string;
  /** Whether the server is running (between {@link start} and {@link kill}). */
  readonly up: boolean;
  /** The running server process, or null while it is down. */
  readonly child: ChildProcess | null;
  /** SIGKILLs the server and waits until it has exited. */
  kill(): Promise<void>;
  /** Starts the server (after a {@link kill}) and waits until it answers PING (its AOF loaded). */
  start(): Promise<void>;
  /** Stops the server and deletes its files. */
  destroy(): Promise<void>;
}

/** Starts a persistent redis-server in a new temporary directory. */
export async function startPersistentRedis(): Promise<PersistentRedis> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seenn-chaos-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const binary = process.env['REDIS_SERVER_BIN'] ?? 'redis-server';
  let child: ChildProcess | null = null;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
    '--protected-mode',
    'no',
    '--loglevel',
    'warning',
  ];
  const start = async (): Promise<void> => {
    const started = track(spawn(binary, args, { stdio: ['ignore', 'ignore', 'inherit'] }));
    child = started;
    const failed = new Promise<never>((_, reject) => {
      started.once('error', (error) =>
        reject(new Error(`could not start ${binary}: ${error.message}`, { cause: error })),
      );
    });
    await Promise.race([waitForRedis(url, 30_000), failed]);
  };
  await start();
  return {
    port,
    url,
    get up() {
      return child !== null;
    },
    get child() {
      return child;
    },
    async kill() {
      const running = child;
      child = null;
      if (running !== null) await stopChild(running, 'SIGKILL');
    },
    start,
    async destroy() {
      const running = child;
      child = null;
      if (running !== null) await stopProcess(running);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
