/**
 * Cancel requests for BullMQ jobs a worker runs (see `handles/cancel.ts`): each request is kept in a
 * short-lived key per job (for an attempt that starts later), listed in its queue's set of requests
 * (scored by when it expires), and announced on the app's cancel channel as `queueName\nbullId\nreason`.
 */
import type { RedisConnection } from './connection.js';
import { quitConnection } from './connection-set.js';
import type { SeennKeys } from './keys.js';

/** Called for each cancel request announced on the channel. */
export type CancelRequestHandler = (queueName: string, bullId: string, reason: string) => void;

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

  /** Subscribes `subscriber` (a connection of its own, in subscriber mode from now on) to the requests. */
  async listen(subscriber: RedisConnection, handler: CancelRequestHandler): Promise<void> {
    const channel = this.keys.cancelChannel();
    subscriber.on('message', (from: string, message: string) => {
      if (from !== channel) return;
      const [queueName = '', bullId = '', ...rest] = message.split('\n');
      handler(queueName, bullId, rest.join('\n'));
    });
    await this.confirm(subscriber);
  }

  /** Subscribes `subscriber` again (after a reconnect) and resolves once Redis confirms it. */
  async confirm(subscriber: RedisConnection): Promise<void> {
    await subscriber.subscribe(this.keys.cancelChannel());
  }

  /** Ends a subscription made with {@link listen}: quits its connection (or drops it when QUIT cannot be sent). */
  async unlisten(subscriber: RedisConnection): Promise<void> {
    await quitConnection(subscriber);
  }
}
