/**
 * The subscriber side of the live fan-out (see `live-fanout.ts`): one Pub/Sub connection that hands
 * its owner (the bridge's live hub) the notifications of the channels it listens to, and says when
 * the subscription was lost and when it is back. It owns the connection: opening, (re)subscribing,
 * closing. What a notification means is the owner's business.
 *
 * - `publish`: one `SUBSCRIBE` to the app's live channel, sent again on every (re)connect; `ready`
 *   once Redis confirms it, `lost` when the connection closes.
 * - `sharded`: `SSUBSCRIBE` per channel, asked for by the owner ({@link LiveSubscription.subscribeShard});
 *   ioredis keeps one subscriber per master and follows the slot map. `lost` when a node goes,
 *   `ready` when ioredis has its subscribers back (the owner then subscribes its channels again).
 */
import type { Cluster } from 'ioredis';
import type { RedisConnection } from './connection.js';
import { quitConnection } from './connection-set.js';
import type { LiveFanout } from './live-fanout.js';

/** What a {@link LiveSubscription} tells its owner. */
export interface LiveSubscriptionHandlers {
  /** A notification on `channel` (`publish`: only the app channel's; `sharded`: any shard channel's). */
  message(channel: string, message: string): void;
  /** The subscription is gone: what is published from now on may be missed until `ready`. */
  lost(): void;
  /**
   * `publish`: Redis confirmed the subscription (after every (re)connect). `sharded`: ioredis has
   * its subscribers (at start and after every change of masters): the owner subscribes again.
   */
  ready(): void;
  /** A command failed (logged by the owner; the subscription retries on its own). */
  warn(error: unknown, message: string): void;
}

/** How a {@link LiveSubscription} opens its connection. */
export interface LiveSubscriptionOptions {
  /** The fan-out of the connection it duplicates (see {@link liveFanout}). */
  fanout: LiveFanout;
  /** A new connection like the command one (`SeennContext.duplicate`); the subscription owns it. */
  duplicate: (options?: { shardedSubscribers?: boolean }) => RedisConnection;
  /** `publish`: the app's live channel (`keys.liveChannel()`). */
  channel: string;
}

/** One subscriber connection of the live fan-out. */
export class LiveSubscription {
  private readonly connection: RedisConnection;
  private closed = false;

  /**
   * Opens the connection and listens; call {@link connect} once the first shard subscriptions (if
   * any) are asked for.
   */
  constructor(
    private readonly options: LiveSubscriptionOptions,
    private readonly handlers: LiveSubscriptionHandlers,
  ) {
    if (options.fanout === 'sharded') this.connection = this.openSharded();
    else this.connection = this.openPlain();
  }

  /** Connects the subscriber unless ioredis is already connecting it. */
  connect(): void {
    if (this.connection.status === 'wait')
      this.connection.connect().catch((error: unknown) => this.handlers.warn(error, 'connect failed'));
  }

  /** Sharded: `SSUBSCRIBE`s to `channel`; resolves once Redis confirms (queued until connected). */
  async subscribeShard(channel: string): Promise<void> {
    await (this.connection as Cluster).ssubscribe(channel);
  }

  /** Sharded: drops `channel` (a failure is only reported). */
  unsubscribeShard(channel: string): void {
    (this.connection as Cluster)
      .sunsubscribe(channel)
      .catch((error: unknown) => this.handlers.warn(error, 'sunsubscribe failed'));
  }

  /**
   * Quits the connection (drops it when it is not connected, or when the QUIT gets no answer in time);
   * nothing is reported afterwards. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await quitConnection(this.connection);
  }

  /** Plain Pub/Sub: one subscription to the app's live channel, sent on every (re)connect. */
  private openPlain(): RedisConnection {
    const { channel } = this.options;
    const subscriber = this.options.duplicate();
    subscriber.on('message', (from: string, message: string) => {
      if (from === channel) this.handlers.message(from, message);
    });
    subscriber.on('close', () => this.handlers.lost());
    subscriber.on('ready', () => {
      subscriber.subscribe(channel).then(
        () => {
          if (!this.closed) this.handlers.ready();
        },
        (error: unknown) => this.handlers.warn(error, 'subscribe failed; will retry on reconnect'),
      );
    });
    return subscriber;
  }

  /** Sharded Pub/Sub: ioredis's sharded subscribers; the owner subscribes each channel. */
  private openSharded(): RedisConnection {
    const subscriber = this.options.duplicate({ shardedSubscribers: true });
    subscriber.on('smessage', (channel: string, message: string) => this.handlers.message(channel, message));
    subscriber.on('-node', () => this.handlers.lost());
    subscriber.on('subscribersReady', () => {
      if (!this.closed) this.handlers.ready();
    });
    return subscriber;
  }
}
