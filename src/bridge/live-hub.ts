/**
 * The live hub: ONE Redis Pub/Sub connection per bridge, fanning each notification out to the
 * sessions of its user. Each event is parsed and framed once, whatever the number of sessions. On one
 * Redis it is subscribed to the app's live channel; on a Redis Cluster with sharded Pub/Sub (see
 * `store/live-fanout.ts`) it `SSUBSCRIBE`s to the channel of each user with a session here, and
 * drops the channel when the user's last session goes.
 *
 * Pub/Sub drops what is published while the subscriber is disconnected. So after every (re)connect
 * the hub asks every session to catch up from the replay stream, from the last entry it handled —
 * when Redis confirms the subscription, or earlier, just before the first message of the new
 * subscription is fanned out (ioredis may emit that message before the confirmation's promise
 * settles). Nothing is lost, and sessions drop what they already have.
 *
 * The same channels carry job output: a notification whose second line is `>output` holds new chunks
 * of one job stream (see `store/output-store.ts`), fanned out to the sessions of its user, which
 * number and dedupe them by seq themselves and read back what they may have missed while the
 * subscription was down.
 *
 * The hub also carries derived events (live queue positions) to the sessions of their user; they
 * are not published through Redis, since every bridge computes them for its own sessions.
 *
 * The subscriber connection itself is the store's {@link LiveSubscription}.
 */
import { liveFanout, liveNotifications, type LiveFanout } from '../store/live-fanout.js';
import { LiveSubscription } from '../store/live-subscription.js';
import type { SeennContext } from '../context.js';
import type { Logger } from '../logger.js';
import type { PositionEvent } from './live-positions.js';
import { isOutputNotification, parseOutputNotification } from '../store/output-store.js';
import { OutputEvent } from './live-output.js';
import { StreamEvent } from './stream-event.js';

/** What the hub uses of the Seenn context: the connection (to learn its fan-out mode), its duplicates (the subscriber) and the keys. */
export type LiveHubDeps = Pick<SeennContext, 'redis' | 'keys' | 'duplicate'>;

/** A session as the hub sees it. */
export interface HubListener {
  /** A live event of the listener's user (called synchronously, in publication order). */
  deliver(event: StreamEvent): void;
  /** A changed queue position of one of the user's jobs (the listener sends it if it shows the job). */
  deliverPosition(event: PositionEvent): void;
  /** New output chunks of one of the user's jobs (called synchronously, in publication order). */
  deliverOutput(event: OutputEvent): void;
  /**
   * The subscription was (re)confirmed: events published before may have been missed, so the
   * listener catches up from the replay stream.
   */
  resubscribed(): void;
}

/** Counters for diagnostics and tests. */
export interface HubStats {
  /** Notifications received. */
  messages: number;
  /** Times the subscription was confirmed (1 after the first connect, +1 per reconnect). */
  subscriptions: number;
  /** Whether the subscription is confirmed now. */
  subscribed: boolean;
  /** Sessions registered. */
  listeners: number;
  /** How changes arrive: plain Pub/Sub on the app channel, or sharded Pub/Sub per user (`null` until decided). */
  fanout: LiveFanout | null;
}

/** A user's shard channel and whether Redis confirmed the subscription to it. */
interface ShardSubscription {
  channel: string;
  confirmed: boolean;
}

/** How long the hub waits before it asks again how to subscribe after that failed. */
const FANOUT_RETRY_MS = 1_000;

/** Fans the app's live channel out to per-user listeners over one Redis connection. */
export class LiveHub {
  private subscription: LiveSubscription | null = null;
  private readonly listeners = new Map<string, Set<HubListener>>();
  private listenerCount = 0;
  private closed = false;
  /** Whether events may have been missed since sessions last caught up (true until the first subscription). */
  private stale = true;
  private readonly counters = { messages: 0, subscriptions: 0, subscribed: false };
  /** How changes arrive, once decided. */
  private fanout: LiveFanout | null = null;
  /** Whether the subscriber is being opened (the fan-out is being decided). */
  private opening = false;
  /** Sharded Pub/Sub: each user with listeners → their channel; and back. */
  private readonly shards = new Map<string, ShardSubscription>();
  private readonly shardUsers = new Map<string, string>();

  /**
   * @param ctx - the connection, its `duplicate()` (the subscriber connection) and the keys
   * @param logger - where failures go
   * @param decorate - applied once to each live event before it is fanned out (adds derived fields)
   */
  constructor(
    private readonly ctx: LiveHubDeps,
    private readonly logger: Logger,
    private readonly decorate: (event: StreamEvent) => StreamEvent = (event) => event,
  ) {}

  /**
   * Registers `listener` for `userId`'s events; opens the subscriber on first use. Returns whether
   * the subscription is confirmed and nothing was missed since: then every event published from now
   * on reaches the listener (else it gets a {@link HubListener.resubscribed} once the subscription is back).
   */
  add(userId: string, listener: HubListener): boolean {
    if (this.closed) return false;
    let set = this.listeners.get(userId);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(userId, set);
    }
    if (!set.has(listener)) {
      set.add(listener);
      this.listenerCount += 1;
    }
    this.ensureSubscriber();
    if (this.fanout === 'sharded') return this.subscribeUser(userId);
    return this.fanout === 'publish' && this.counters.subscribed && !this.stale;
  }

  /** Unregisters `listener`. */
  remove(userId: string, listener: HubListener): void {
    const set = this.listeners.get(userId);
    if (set === undefined || !set.delete(listener)) return;
    this.listenerCount -= 1;
    if (set.size > 0) return;
    this.listeners.delete(userId);
    const shard = this.shards.get(userId);
    if (shard === undefined) return;
    this.shards.delete(userId);
    this.shardUsers.delete(shard.channel);
    this.subscription?.unsubscribeShard(shard.channel);
  }

  /** How many listeners `userId` has on this process. */
  count(userId: string): number {
    return this.listeners.get(userId)?.size ?? 0;
  }

  /** Hands a position update to the listeners of its user. */
  sendPosition(event: PositionEvent): void {
    const listeners = this.listeners.get(event.userId);
    if (listeners === undefined) return;
    for (const listener of [...listeners]) {
      try {
        listener.deliverPosition(event);
      } catch (error) {
        this.logger.error(
          { err: error, userId: event.userId },
          'bridge hub: a session failed to take a position update',
        );
      }
    }
  }

  /** Counters for diagnostics. */
  get stats(): HubStats {
    return { ...this.counters, listeners: this.listenerCount, fanout: this.fanout };
  }

  /** Closes the subscriber connection and forgets every listener. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.listenerCount = 0;
    this.shards.clear();
    this.shardUsers.clear();
    const subscription = this.subscription;
    this.subscription = null;
    this.counters.subscribed = false;
    await subscription?.close();
  }

  /** Decides the fan-out (once), then opens the subscriber for it. */
  private ensureSubscriber(): void {
    if (this.subscription !== null || this.closed || this.opening) return;
    this.opening = true;
    liveFanout(this.ctx.redis).then(
      (fanout) => {
        this.opening = false;
        if (this.closed || this.subscription !== null) return;
        this.fanout = fanout;
        if (fanout === 'sharded') this.openSharded();
        else this.openPlain();
      },
      (error: unknown) => {
        this.opening = false;
        this.logger.warn({ err: error }, 'bridge hub: could not tell how to subscribe; retrying');
        setTimeout(() => this.ensureSubscriber(), FANOUT_RETRY_MS).unref();
      },
    );
  }

  /** Plain Pub/Sub: one subscription to the app's live channel. */
  private openPlain(): void {
    const subscription = new LiveSubscription(
      { fanout: 'publish', duplicate: (options) => this.ctx.duplicate(options), channel: this.ctx.keys.liveChannel() },
      {
        message: (_channel, message) => this.onMessage(message),
        lost: () => {
          this.counters.subscribed = false;
          this.stale = true;
        },
        // On every (re)connect, once Redis confirms the subscription: every session catches up.
        ready: () => {
          if (this.closed) return;
          this.counters.subscriptions += 1;
          this.counters.subscribed = true;
          this.catchUpIfStale();
        },
        warn: (error, message) => this.logger.warn({ err: error }, `bridge hub: ${message}`),
      },
    );
    this.subscription = subscription;
    subscription.connect();
  }

  /**
   * Sharded Pub/Sub: ioredis keeps one subscriber connection per master and follows the slot map.
   * When masters change (a failover, a restart), what was published meanwhile is lost: once ioredis
   * has its subscribers back, every channel is subscribed again and, as Redis confirms each, its
   * user's sessions catch up.
   */
  private openSharded(): void {
    const subscription = new LiveSubscription(
      { fanout: 'sharded', duplicate: (options) => this.ctx.duplicate(options), channel: this.ctx.keys.liveChannel() },
      {
        message: (channel, message) => {
          if (this.shardUsers.has(channel)) this.onMessage(message);
        },
        lost: () => {
          this.counters.subscribed = false;
          this.stale = true;
          for (const shard of this.shards.values()) shard.confirmed = false;
        },
        // Ready at start, and again after every change of masters ioredis sees (a failover moves slots:
        // Redis drops the shard subscriptions of those slots, and what was published before ioredis saw
        // the change is lost): every channel is subscribed again, and each user catches up as Redis confirms.
        ready: () => {
          if (this.closed) return;
          this.counters.subscriptions += 1;
          this.counters.subscribed = true;
          this.stale = false;
          for (const [userId, shard] of this.shards) {
            shard.confirmed = false;
            this.confirm(userId, shard);
          }
        },
        warn: (error, message) => this.logger.warn({ err: error }, `bridge hub: ${message}`),
      },
    );
    this.subscription = subscription;
    for (const userId of this.listeners.keys()) this.subscribeUser(userId);
    subscription.connect();
  }

  /** Sharded Pub/Sub: subscribes to `userId`'s channel unless done; whether it is confirmed and nothing was missed since. */
  private subscribeUser(userId: string): boolean {
    const existing = this.shards.get(userId);
    if (existing !== undefined) return existing.confirmed && !this.stale;
    const shard: ShardSubscription = { channel: this.ctx.keys.liveShardChannel(userId), confirmed: false };
    this.shards.set(userId, shard);
    this.shardUsers.set(shard.channel, userId);
    this.confirm(userId, shard);
    return false;
  }

  /** `SSUBSCRIBE`s to a user's channel; once Redis confirms (and it is still wanted), the user's sessions catch up. */
  private confirm(userId: string, shard: ShardSubscription): void {
    this.subscription?.subscribeShard(shard.channel).then(
      () => {
        if (this.closed || this.shards.get(userId) !== shard || this.stale) return;
        shard.confirmed = true;
        this.catchUpUser(userId);
      },
      (error: unknown) =>
        this.logger.warn(
          { err: error, userId },
          'bridge hub: ssubscribe failed; will retry when the subscribers are back',
        ),
    );
  }

  private onMessage(message: string): void {
    this.counters.messages += 1;
    // The first message after a (re)connect: sessions catch up first, and this message joins what
    // they buffer meanwhile. (Sharded: each user's sessions catch up when their channel is confirmed.)
    if (this.fanout === 'publish') this.catchUpIfStale();
    const newline = message.indexOf('\n');
    const listeners = newline < 0 ? undefined : this.listeners.get(message.slice(0, newline));
    if (listeners === undefined) return;
    if (isOutputNotification(message)) {
      this.fanOutput(message, listeners);
      return;
    }
    // One message per commit: one or more events of the user, in order.
    for (const notification of liveNotifications(message)) this.fanEvent(notification, listeners);
  }

  /** One job change (a single-event notification) to the sessions of its user. */
  private fanEvent(message: string, listeners: ReadonlySet<HubListener>): void {
    const parsed = StreamEvent.fromNotification(message);
    if (parsed === null) {
      this.logger.warn({ bytes: message.length }, 'bridge hub: malformed live notification ignored');
      return;
    }
    let event = parsed;
    try {
      event = this.decorate(parsed);
    } catch (error) {
      this.logger.error(
        { err: error, userId: parsed.userId },
        'bridge hub: could not add derived fields to an event; sent as stored',
      );
    }
    for (const listener of [...listeners]) {
      try {
        listener.deliver(event);
      } catch (error) {
        this.logger.error({ err: error, userId: event.userId }, 'bridge hub: a session failed to take an event');
      }
    }
  }

  /** Output chunks (published on the same channel as job changes) to the sessions of their user. */
  private fanOutput(message: string, listeners: ReadonlySet<HubListener>): void {
    const notification = parseOutputNotification(message);
    if (notification === null) {
      this.logger.warn({ bytes: message.length }, 'bridge hub: malformed output notification ignored');
      return;
    }
    const event = new OutputEvent(notification);
    for (const listener of [...listeners]) {
      try {
        listener.deliverOutput(event);
      } catch (error) {
        this.logger.error({ err: error, userId: notification.userId }, 'bridge hub: a session failed to take output');
      }
    }
  }

  /** After a (re)subscription, if events may have been missed: every session catches up. */
  private catchUpIfStale(): void {
    if (!this.stale) return;
    this.stale = false;
    this.catchUpAll();
  }

  /** Tells every listener the subscription is back (it catches up from the replay stream). */
  private catchUpAll(): void {
    for (const userId of this.listeners.keys()) this.catchUpUser(userId);
  }

  /** Tells `userId`'s listeners the subscription is back (they catch up from the replay stream). */
  private catchUpUser(userId: string): void {
    for (const listener of [...(this.listeners.get(userId) ?? [])]) {
      try {
        listener.resubscribed();
      } catch (error) {
        this.logger.error({ err: error, userId }, 'bridge hub: a session failed to catch up after resubscribing');
      }
    }
  }
}
