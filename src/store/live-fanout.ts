/**
 * How committed changes reach the bridges live. On one Redis: plain Pub/Sub on the app's channel
 * (`keys.liveChannel()`), one `SUBSCRIBE` per bridge. On a Redis Cluster of Redis ≥ 7: sharded
 * Pub/Sub on one channel per user in that user's slot (`keys.liveShardChannel(userId)`): the commit
 * script `SPUBLISH`es there, the message stays on the user's shard instead of crossing the cluster bus
 * to every node (`bench/cluster-pubsub.ts`), and each bridge `SSUBSCRIBE`s to the channels of the users
 * it serves. A cluster older than Redis 7 falls back to plain Pub/Sub.
 */
import { isCluster, type RedisConnection } from './connection.js';

/** `publish`: plain Pub/Sub on the app channel; `sharded`: sharded Pub/Sub on per-user channels. */
export type LiveFanout = 'publish' | 'sharded';

const decided = new WeakMap<RedisConnection, Promise<LiveFanout>>();

/**
 * The fan-out `redis` supports, decided once per connection (the cluster's Redis version is read
 * once). A failed read is not remembered: the next call asks again.
 */
export function liveFanout(redis: RedisConnection): Promise<LiveFanout> {
  if (!isCluster(redis)) return Promise.resolve('publish');
  let decision = decided.get(redis);
  if (decision === undefined) {
    decision = redis.info('server').then((info) => (majorVersion(info) >= 7 ? 'sharded' : 'publish'));
    decided.set(redis, decision);
    decision.catch(() => decided.delete(redis));
  }
  return decision;
}

/** The major version in an `INFO server` reply (0 when absent). */
function majorVersion(info: string): number {
  const match = /^redis_version:(\d+)/m.exec(info);
  return match === null ? 0 : Number(match[1]);
}
