/**
 * The connections one Seenn instance holds: the command connection it was given or opened, and the
 * duplicates it opens for blocking reads and subscribers. Closing the set quits the duplicates and,
 * only when the set opened it, the command connection. Also the bounded waits of a close while Redis
 * may hang (`quitConnection`, `settlesBy`).
 */
import { duplicateConnection, type RedisConnection } from './connection.js';

/** Answers once Redis answered a `PING` on `redis` (throws what the command throws). */
export async function pingRedis(redis: RedisConnection): Promise<void> {
  await redis.ping();
}

/** How long a QUIT may wait for Redis's reply before the connection is dropped instead. */
export const QUIT_GRACE_MS = 2_000;

/**
 * Quits `connection`; drops it instead when it is not connected (Redis is away: a QUIT would wait in
 * the offline queue behind the commands there until Redis is back), when the QUIT fails, or when Redis
 * has not answered within `graceMs` (it hangs). Dropping rejects the commands sent on it and waiting
 * for a reply; ioredis leaves those queued offline while it was reconnecting unsettled (they hold no
 * timer or socket, so the process can still exit).
 */
export async function quitConnection(connection: RedisConnection, graceMs = QUIT_GRACE_MS): Promise<void> {
  if (connection.status !== 'ready') {
    connection.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const answered = await Promise.race([
    connection.quit().then(
      () => true,
      () => false,
    ),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    }),
  ]);
  clearTimeout(timer);
  if (!answered) connection.disconnect();
}

/**
 * Whether `promise` settled before `deadline` (epoch ms): a bounded wait on work that a Redis that
 * hangs may never finish. Never rejects, leaves no timer behind.
 */
export async function settlesBy(promise: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
    }),
  ]);
  clearTimeout(timer);
  return settled;
}

/** A command connection and the duplicates opened from it. */
export class ConnectionSet {
  private readonly opened = new Set<RedisConnection>();

  /**
   * @param main - the command connection
   * @param ownsMain - whether `main` was opened by us (and so is closed by {@link close})
   * @param onError - where the errors of the connections the set opened go: its duplicates, and `main`
   *   when the set owns it (ioredis emits them; unheard, ioredis prints each one to the console). A
   *   connection the app gave keeps the app's own listeners only.
   */
  constructor(
    private readonly main: RedisConnection,
    private readonly ownsMain: boolean,
    private readonly onError: (error: Error) => void,
  ) {
    if (ownsMain) main.on('error', onError);
  }

  /** A new connection like the main one (see {@link duplicateConnection}); closed by {@link close}. */
  duplicate(options: { shardedSubscribers?: boolean } = {}): RedisConnection {
    const connection = duplicateConnection(this.main, options);
    connection.on('error', this.onError);
    this.opened.add(connection);
    connection.once('end', () => this.opened.delete(connection));
    return connection;
  }

  /**
   * Quits the duplicates still open, then the main connection when the set owns it (each with
   * {@link quitConnection}: dropped when Redis is away or has not answered within `quitGraceMs`).
   */
  async close(quitGraceMs = QUIT_GRACE_MS): Promise<void> {
    await Promise.all([...this.opened].map((connection) => quitConnection(connection, quitGraceMs)));
    this.opened.clear();
    if (this.ownsMain) await quitConnection(this.main, quitGraceMs);
  }
}
