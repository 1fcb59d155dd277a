/**
 * Cancel requests for BullMQ jobs a worker runs (see `handles/cancel.ts`): each request is kept in a
 * short-lived key per job (for an attempt that starts later) and announced on the app's cancel
 * channel as `queueName\nbullId\nreason`.
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

  /** Keeps a request to cancel BullMQ job `bullId` of `queueName` for `ttlSeconds`, and announces it. */
  async send(queueName: string, bullId: string, reason: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(this.keys.cancelRequest(queueName, bullId), reason, 'EX', ttlSeconds);
    await this.redis.publish(this.keys.cancelChannel(), `${queueName}\n${bullId}\n${reason}`);
  }

  /** The reason of a request waiting for BullMQ job `bullId` of `queueName`, or `null` when none waits. */
  waiting(queueName: string, bullId: string): Promise<string | null> {
    return this.redis.get(this.keys.cancelRequest(queueName, bullId));
  }

  /** Subscribes `subscriber` (a connection of its own, in subscriber mode from now on) to the requests. */
  async listen(subscriber: RedisConnection, handler: CancelRequestHandler): Promise<void> {
    const channel = this.keys.cancelChannel();
    subscriber.on('message', (from: string, message: string) => {
      if (from !== channel) return;
      const [queueName = '', bullId = '', ...rest] = message.split('\n');
      handler(queueName, bullId, rest.join('\n'));
    });
    await subscriber.subscribe(channel);
  }

  /** Ends a subscription made with {@link listen}: quits its connection (or drops it when QUIT cannot be sent). */
  async unlisten(subscriber: RedisConnection): Promise<void> {
    await quitConnection(subscriber);
  }
}
