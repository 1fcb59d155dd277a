/**
 * Cancel requests for BullMQ jobs a worker runs (see `handles/cancel.ts`): each request is kept in a
 * short-lived key per job (for an attempt that starts later), listed in its queue's set of requests
 * (scored by when it expires), and announced on the app's cancel channel as `queueName\nbullId\nreason`.
 */
import { isCluster, type RedisConnection } from './connection.js';
import { quitConnection } from './connection-set.js';
import type { SeennKeys } from './keys.js';

/** What {@link CancelRequests.listen} tells its caller. */
export interface CancelRequestHandlers {
  /** A cancel request announced on the channel. */
  request(queueName: string, bullId: string, reason: string): void;
  /** The subscriber's connection closed: requests announced from now on may be missed. */
  lost(): void;
  /** Redis confirmed the subscription (single Redis only): every request announced from now on arrives. */
  complete(): void;
  /** Subscribing again after a reconnect failed (it is tried at the next reconnect). */
  warn(error: unknown): void;
}

/** Sends, reads and listens for cancel requests. Holds no state of its own. */
export class CancelRequests {
  /**
   * @param redis - the command connection (never closed here)
   * @param keys - the key builder
   */
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: SeennKeys,
  ) {}

  /**
   * Keeps a request to cancel BullMQ job `bullId` of `queueName` for `ttlSeconds` (its key, and its
   * entry in the queue's set, where expired entries are dropped), then announces it.
   */
  async send(queueName: string, bullId: string, reason: string, ttlSeconds: number): Promise<void> {
    const nowMs = Date.now();
    const listed = this.keys.cancelRequests(queueName);
    await Promise.all([
      this.redis.set(this.keys.cancelRequest(queueName, bullId), reason, 'EX', ttlSeconds),
      this.redis.zadd(listed, nowMs + ttlSeconds * 1000, bullId),
      this.redis.zremrangebyscore(listed, '-inf', nowMs),
      this.redis.expire(listed, ttlSeconds),
    ]);
    await this.redis.publish(this.keys.cancelChannel(), `${queueName}\n${bullId}\n${reason}`);
  }

  /** The reason of a request waiting for BullMQ job `bullId` of `queueName`, or `null` when none waits. */
  waiting(queueName: string, bullId: string): Promise<string | null> {
    return this.redis.get(this.keys.cancelRequest(queueName, bullId));
  }

  /** Every request of `queueName` that has not expired: BullMQ id, reason and when it expires (epoch ms). */
  async pending(queueName: string): Promise<{ bullId: string; reason: string; expiresAtMs: number }[]> {
    const listed = await this.redis.zrangebyscore(
      this.keys.cancelRequests(queueName),
      Date.now(),
      '+inf',
      'WITHSCORES',
    );
    const entries: { bullId: string; expiresAtMs: number }[] = [];
    for (let i = 0; i + 1 < listed.length; i += 2)
      entries.push({ bullId: listed[i] as string, expiresAtMs: Number(listed[i + 1]) });
    const reasons = await Promise.all(entries.map(({ bullId }) => this.waiting(queueName, bullId)));
    return entries.flatMap((entry, i) => {
      const reason = reasons[i];
      return reason === null || reason === undefined ? [] : [{ ...entry, reason }];
    });
  }

  /**
   * Subscribes `subscriber` (a connection of its own, in subscriber mode from now on) to the requests;
   * resolves once Redis confirms it. On a single Redis, `handlers.lost` hears when the connection
   * closes (what is announced then is missed) and `handlers.complete` when Redis confirmed the
   * subscription, at first and after every reconnect: from then on every request sent reaches
   * `handlers.request`. On a Cluster (whose subscriber may move between nodes without closing),
   * `complete` is never called.
   */
  async listen(subscriber: RedisConnection, handlers: CancelRequestHandlers): Promise<void> {
    const channel = this.keys.cancelChannel();
    subscriber.on('message', (from: string, message: string) => {
      if (from !== channel) return;
      const [queueName = '', bullId = '', ...rest] = message.split('\n');
      handlers.request(queueName, bullId, rest.join('\n'));
    });
    await subscriber.subscribe(channel);
    if (isCluster(subscriber)) return;
    subscriber.on('close', () => handlers.lost());
    // After a reconnect (the first connect is behind the SUBSCRIBE above): ioredis subscribes again
    // on its own, and this SUBSCRIBE's answer says when that holds.
    subscriber.on('ready', () => {
      subscriber.subscribe(channel).then(
        () => handlers.complete(),
        (error: unknown) => handlers.warn(error),
      );
    });
    handlers.complete();
  }

  /** Ends a subscription made with {@link listen}: quits its connection (or drops it when QUIT cannot be sent). */
  async unlisten(subscriber: RedisConnection): Promise<void> {
    await quitConnection(subscriber);
  }
}
