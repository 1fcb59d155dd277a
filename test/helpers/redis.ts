/**
 * Per-test Redis helpers: the harness's URL, connections that are closed after the test, unique
 * prefixes, and clean-up of one prefix's keys (never a FLUSHALL).
 *
 * On a cluster run (`SEENN_TEST_CLUSTER=1`) `connect()` gives an ioredis `Cluster` and
 * `uniquePrefix()` a hash-tagged prefix (`{t-1a2b3c4d}`), so that BullMQ and Seenn keys of a test
 * share one slot — the "single tagged prefix" layout. Tests of the per-queue layout (queues tagged,
 * prefix plain) live in test/cluster/ and start their own cluster.
 */
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { inject } from 'vitest';
import { nextEvent } from './wait.js';
export { deletePrefix } from '../../examples/lib/redis-keys.js';

/** The URL of the Redis the global set-up chose for this run (a cluster run: its first node). */
export function redisUrl(): string {
  return inject('redisUrl');
}

/** The start-up nodes of this run's Redis Cluster, or `null` when the run uses one Redis. */
export function redisClusterNodes(): { host: string; port: number }[] | null {
  return inject('redisCluster');
}

/**
 * A new connection to the test Redis, suitable for BullMQ (`maxRetriesPerRequest: null`). On a
 * cluster run it is a `Cluster`, typed `Redis` so the tests written against one Redis run unchanged:
 * a `Cluster` speaks every command they send (see {@link connectAny} for the honest type).
 * `connectionName` names it (and the duplicates made of it) in `CLIENT LIST`.
 */
export function connect(url = redisUrl(), connectionName?: string): Redis {
  const options = connectionName === undefined ? {} : { connectionName };
  const nodes = redisClusterNodes();
  if (nodes !== null && url === redisUrl())
    return new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: null, ...options } }) as unknown as Redis;
  return new Redis(url, { maxRetriesPerRequest: null, ...options });
}

/** {@link connect}, typed as what it is: a `Redis` or, on a cluster run, a `Cluster`. */
export function connectAny(): Redis | Cluster {
  return connect() as Redis | Cluster;
}

/** A prefix no other test uses, so tests can share one Redis (hash-tagged on a cluster run). */
export function uniquePrefix(label = 't'): string {
  const name = `${label}-${randomUUID().slice(0, 8)}`;
  return redisClusterNodes() === null ? name : `{${name}}`;
}

/**
 * Watches every command the server of `redis` runs (MONITOR, on a new connection): `onCommand` gets
 * each one's arguments, the command name first. Resolves once Redis sends the commands; the function
 * it resolves to stops watching once every command run before it was called has been seen (Redis feeds
 * a monitor in the order it runs commands, so it waits for an ECHO of its own), and throws if the
 * connection failed meanwhile.
 *
 * ioredis's own `redis.monitor()` loses a race on a busy server: command lines that arrive in the
 * same read as MONITOR's OK, before ioredis switches the connection's mode, raise "Command queue
 * state error" (and reject). Those lines precede the watched window, so they are dropped here.
 */
export async function watchCommands(redis: Redis, onCommand: (args: string[]) => void): Promise<() => Promise<void>> {
  const monitor = redis.duplicate({ monitor: true, lazyConnect: false });
  let failure: Error | undefined;
  await new Promise<void>((resolve, reject) => {
    monitor.on('error', (error: Error) => {
      // ioredis sets this status (missing from its `RedisStatus` type) when MONITOR's OK is handled.
      if ((monitor.status as string) === 'monitoring') failure ??= error;
      else if (!error.message.startsWith('Command queue state error')) reject(error);
    });
    monitor.once('monitoring', () => resolve());
  });
  const marker = `watch-commands-${randomUUID()}`;
  const isMarker = (args: string[]): boolean => args[0]?.toLowerCase() === 'echo' && args[1] === marker;
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (!isMarker(args)) onCommand(args);
  });
  return async () => {
    try {
      await Promise.all([
        nextEvent<[string, string[]]>(monitor, 'monitor', { filter: (_time, args) => isMarker(args) }),
        redis.echo(marker),
      ]);
    } finally {
      monitor.disconnect();
    }
    if (failure !== undefined) throw failure;
  };
}
