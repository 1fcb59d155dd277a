/**
 * The bridge's own connection for its streams' reads (single Redis only), auto-pipelined: the reads
 * of every stream that connects in the same tick (newest and oldest replay ids, the replay, the jobs
 * to watch) leave in one socket write and come back in one read, instead of a write and a read each.
 * None on a Cluster (auto-pipelining groups commands by node there, and the command connection serves).
 */
import { isCluster, type RedisConnection } from './connection.js';
import { quitConnection } from './connection-set.js';

/** A connection opened for stream reads, and how to close it. */
export interface StreamReadConnection {
  /** The connection (lazy: it connects on its first command). */
  readonly redis: RedisConnection;
  /** Quits it (drops it when it is not connected, or when the QUIT gets no answer in time). Never rejects. */
  close(): Promise<void>;
}

/**
 * Opens an auto-pipelined duplicate of `redis` for stream reads, or `null` on a Cluster.
 *
 * @param onError - where the connection's errors go (ioredis emits them; unheard, Node would throw)
 */
export function openStreamReadConnection(
  redis: RedisConnection,
  onError: (error: Error) => void,
): StreamReadConnection | null {
  if (isCluster(redis)) return null;
  const reads = redis.duplicate({ enableAutoPipelining: true, lazyConnect: true });
  reads.on('error', onError);
  return {
    redis: reads,
    close: () => quitConnection(reads),
  };
}
