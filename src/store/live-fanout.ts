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

/**
 * The single-event notifications a live message carries. The commit script publishes one message per
 * commit: the user id, then entry id, event name and payload (single-line JSON) of each event it
 * appended, all joined by newlines. A message of one event (`userId\nentryId\neventName\neventData`,
 * the only form before messages carried several) comes back as it is; one of several as one such
 * string per event, in order. Anything else (an output notification, a malformed message) also comes
 * back as it is, for the caller's own parser to take or refuse.
 */
export function liveNotifications(message: string): string[] {
  const lines = message.split('\n');
  if (lines.length <= 4 || (lines.length - 1) % 3 !== 0) return [message];
  const userId = lines[0] as string;
  const single: string[] = [];
  for (let i = 1; i < lines.length; i += 3)
    single.push(`${userId}\n${lines[i] as string}\n${lines[i + 1] as string}\n${lines[i + 2] as string}`);
  return single;
}
