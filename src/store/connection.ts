/**
 * The Redis connection Seenn works over: an ioredis `Redis` (one server) or `Cluster` (Redis Cluster),
 * given as an instance or as options. {@link openConnection} turns `SeennOptions.connection` into a
 * client (or a `CONFIG_INVALID` error: there is no default server), {@link duplicateConnection} makes
 * the extra connections blocking reads and Pub/Sub need, correctly for both kinds.
 */
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ValidationError } from '../errors.js';

/** A connection Seenn can use: one Redis server or a Redis Cluster. */
export type RedisConnection = Redis | Cluster;

/** Options for a Redis Cluster connection that Seenn opens (and closes) itself. */
export interface ClusterConnectionOptions {
  /** Start-up nodes and ioredis cluster options, as `new Cluster(nodes, options)` takes them. */
  cluster: {
    /** At least one node of the cluster (`{ host, port }`, a port, or a `host:port` string). */
    nodes: ClusterNode[];
    /** ioredis `ClusterOptions` (Seenn sets `redisOptions.maxRetriesPerRequest` to `null`). */
    options?: ClusterOptions;
  };
}

/**
 * What `SeennOptions.connection` accepts: an ioredis `Redis` or `Cluster` instance (shared, never
 * closed by Seenn), ioredis `RedisOptions` for one server, or {@link ClusterConnectionOptions}.
 */
export type ConnectionInput = Redis | Cluster | RedisOptions | ClusterConnectionOptions;

/** A connection ready for use, and whether Seenn opened it (and so must close it). */
export interface OpenedConnection {
  redis: RedisConnection;
  owned: boolean;
}

const EXPECTED =
  'Expected `connection` to be an ioredis Redis or Cluster instance, ioredis RedisOptions, or { cluster: { nodes, options } }';

/** Whether `connection` is a Redis Cluster client (works across copies of ioredis). */
export function isCluster(connection: RedisConnection): connection is Cluster {
  return connection instanceof Cluster || (connection as { isCluster?: unknown }).isCluster === true;
}

/** Whether `value` looks like an ioredis client (instance of this copy of ioredis or of another). */
function isClient(value: object): value is RedisConnection {
  if (value instanceof Redis || value instanceof Cluster) return true;
  const candidate = value as { isCluster?: unknown; duplicate?: unknown; sendCommand?: unknown };
  return (
    typeof candidate.isCluster === 'boolean' &&
    typeof candidate.duplicate === 'function' &&
    typeof candidate.sendCommand === 'function'
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isNode(node: unknown): boolean {
  if (typeof node === 'number') return Number.isInteger(node) && node > 0 && node < 65_536;
  if (typeof node === 'string') return node.length > 0;
  return (
    isPlainObject(node) &&
    (node['host'] === undefined || typeof node['host'] === 'string') &&
    (node['port'] === undefined || typeof node['port'] === 'number')
  );
}

/**
 * Checks `connection` without opening anything; throws a `CONFIG_INVALID` {@link ValidationError}
 * for anything that is not a client, `RedisOptions` or `{ cluster: { nodes, options } }`.
 */
export function checkConnection(connection: unknown): void {
  if (typeof connection === 'object' && connection !== null && isClient(connection)) return;
  if (!isPlainObject(connection)) {
    const got =
      connection === null
        ? 'null'
        : typeof connection === 'object'
          ? (connection.constructor?.name ?? 'object')
          : typeof connection;
    const hint =
      typeof connection === 'string' ? ' (for a URL, pass `new Redis(url, { maxRetriesPerRequest: null })`)' : '';
    throw new ValidationError('CONFIG_INVALID', `${EXPECTED}; got ${got}${hint}`, { details: { got } });
  }
  if (!('cluster' in connection)) return;
  const { cluster, ...others } = connection;
  const extra = Object.keys(others);
  if (extra.length > 0)
    throw new ValidationError(
      'CONFIG_INVALID',
      `${EXPECTED}; \`cluster\` cannot be mixed with other fields (${extra.join(', ')})`,
      { details: { fields: extra } },
    );
  if (!isPlainObject(cluster))
    throw new ValidationError('CONFIG_INVALID', `${EXPECTED}; \`connection.cluster\` must be an object`);
  const { nodes, options, ...unknown } = cluster;
  const stray = Object.keys(unknown);
  if (stray.length > 0)
    throw new ValidationError(
      'CONFIG_INVALID',
      `Unknown field in \`connection.cluster\`: ${stray.join(', ')} (expected nodes, options)`,
      { details: { fields: stray } },
    );
  if (!Array.isArray(nodes) || nodes.length === 0 || !nodes.every(isNode)) {
    throw new ValidationError(
      'CONFIG_INVALID',
      '`connection.cluster.nodes` must list at least one node ({ host, port }, a port or a "host:port" string)',
    );
  }
  if (options !== undefined && !isPlainObject(options))
    throw new ValidationError(
      'CONFIG_INVALID',
      '`connection.cluster.options` must be ioredis ClusterOptions (an object)',
    );
}

/**
 * Turns `SeennOptions.connection` into a client. An instance is used as given (`owned: false`);
 * options open a new `Redis` or `Cluster` with `maxRetriesPerRequest: null`, as BullMQ needs
 * (`owned: true`). Anything else throws `CONFIG_INVALID`: there is never a default server.
 */
export function openConnection(connection: ConnectionInput): OpenedConnection {
  checkConnection(connection);
  if (isClient(connection)) return { redis: connection, owned: false };
  if ('cluster' in connection) {
    const { nodes, options = {} } = connection.cluster;
    return {
      redis: new Cluster(nodes, { ...options, redisOptions: { ...options.redisOptions, maxRetriesPerRequest: null } }),
      owned: true,
    };
  }
  return { redis: new Redis({ ...connection, maxRetriesPerRequest: null }), owned: true };
}

/** How often a cluster connection with sharded subscribers re-reads the slot map (to follow failovers). */
export const SHARDED_SLOTS_REFRESH_MS = 1_000;

/**
 * A new connection of the same kind and to the same server(s) as `connection`, with
 * `maxRetriesPerRequest: null` (for blocking reads and Pub/Sub). A `Cluster` is duplicated with its
 * own start-up nodes: `Cluster.duplicate()` takes nodes as its first argument, options second;
 * `shardedSubscribers` gives it ioredis's per-shard subscriber connections (for `SSUBSCRIBE`).
 */
export function duplicateConnection(
  connection: RedisConnection,
  options: { shardedSubscribers?: boolean } = {},
): RedisConnection {
  if (isCluster(connection)) {
    // A sharded subscriber sends no commands that could meet a MOVED: it learns of a failover only
    // by refreshing the slot map, so it does that every SHARDED_SLOTS_REFRESH_MS.
    const sharded =
      options.shardedSubscribers === true
        ? { shardedSubscribers: true, slotsRefreshInterval: SHARDED_SLOTS_REFRESH_MS }
        : {};
    return connection.duplicate([], {
      ...sharded,
      redisOptions: { ...connection.options.redisOptions, maxRetriesPerRequest: null },
    });
  }
  return connection.duplicate({ maxRetriesPerRequest: null });
}

/**
 * A new command connection to the same Redis as `connection`, for one component's commands alone (no
 * auto-pipelining: ioredis keeps one auto-pipeline in flight per connection, so commands issued while
 * one is out wait for all of its replies — see bench/README, issue 10, "Session 10"), or `null` on a
 * Cluster, where the caller keeps `connection`. `onError` hears the new connection's errors.
 */
export function ownCommandConnection(
  connection: RedisConnection,
  onError: (error: Error) => void,
): RedisConnection | null {
  if (isCluster(connection)) return null;
  const own = connection.duplicate({ enableAutoPipelining: false });
  own.on('error', onError);
  return own;
}

/** Closes `connection` at once, without waiting for pending replies (interrupts a blocking read). */
export function disconnectNow(connection: RedisConnection): void {
  connection.disconnect();
}
