/**
 * The connections one Seenn instance holds: the command connection it was given or opened, and the
 * duplicates it opens for blocking reads and subscribers. Closing the set quits the duplicates and,
 * only when the set opened it, the command connection.
 */
import { duplicateConnection, type RedisConnection } from './connection.js';

/** Answers once Redis answered a `PING` on `redis` (throws what the command throws). */
export async function pingRedis(redis: RedisConnection): Promise<void> {
  await redis.ping();
}

/** Quits `connection`, or drops it when a QUIT cannot be sent. */
export async function quitConnection(connection: RedisConnection): Promise<void> {
  await connection.quit().catch(() => connection.disconnect());
}

/** A command connection and the duplicates opened from it. */
export class ConnectionSet {
  private readonly opened = new Set<RedisConnection>();

  /**
   * @param main - the command connection
   * @param ownsMain - whether `main` was opened by us (and so is closed by {@link close})
   * @param onError - where the errors of duplicates go (ioredis emits them; unheard, Node would throw)
   */
  constructor(
    private readonly main: RedisConnection,
    private readonly ownsMain: boolean,
    private readonly onError: (error: Error) => void,
  ) {}

  /** A new connection like the main one (see {@link duplicateConnection}); closed by {@link close}. */
  duplicate(options: { shardedSubscribers?: boolean } = {}): RedisConnection {
    const connection = duplicateConnection(this.main, options);
    connection.on('error', this.onError);
    this.opened.add(connection);
    connection.once('end', () => this.opened.delete(connection));
    return connection;
  }

  /** Quits the duplicates still open, then the main connection when the set owns it. */
  async close(): Promise<void> {
    await Promise.all([...this.opened].map(quitConnection));
    this.opened.clear();
    if (this.ownsMain) await quitConnection(this.main);
  }
}
