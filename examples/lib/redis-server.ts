/**
 * Starts and stops throw-away `redis-server` processes for tests, the demo and benchmarks.
 * (Lives under `examples/lib/` so the demo can use it; `test/helpers/redis-server.ts` re-exports it.)
 * A server started here keeps nothing on disk and is the only kind of Redis a test may flush.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { Redis } from 'ioredis';

/** A running `redis-server` child process. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly process: ChildProcess;
  /** Stops the server (SIGTERM, then SIGKILL after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<void>;
}

/** Asks the kernel for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const { port } = address;
  server.close();
  await once(server, 'close');
  return port;
}

/** Waits until a Redis at `url` answers PING, or throws after `timeoutMs`. */
export async function waitForRedis(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`Redis at ${url} did not answer within ${timeoutMs} ms`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      client.disconnect();
    }
  }
}

/** Stops a child process: SIGTERM, then SIGKILL after `timeoutMs`; resolves once it has exited. */
export async function stopProcess(child: ChildProcess, timeoutMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** The port. @defaultValue a free loopback port */
  port?: number;
  /** The binary. @defaultValue `REDIS_SERVER_BIN`, else `redis-server` */
  binary?: string;
  /**
   * More `redis-server` arguments, after the defaults (so one naming the same setting wins), e.g.
   * `['--cluster-enabled', 'yes', '--dir', dir]` for a cluster node.
   */
  args?: readonly string[];
}

/**
 * Spawns `redis-server` on a free loopback port (or `port`), with persistence off, and waits until it
 * answers. Throws with a clear message when the binary is missing; a server that does not answer in
 * time is stopped before the error is thrown.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const binary = options.binary ?? process.env['REDIS_SERVER_BIN'] ?? 'redis-server';
  const child = spawn(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      '--loglevel',
      'warning',
      ...(options.args ?? []),
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(new Error(`could not start ${binary}: ${error.message}`, { cause: error })));
  });
  const url = `redis://127.0.0.1:${port}`;
  try {
    await Promise.race([waitForRedis(url), spawnError]);
  } catch (error) {
    await stopProcess(child, 1_000);
    throw error;
  }
  return {
    port,
    url,
    process: child,
    stop: (timeoutMs = 5_000) => stopProcess(child, timeoutMs),
  };
}
