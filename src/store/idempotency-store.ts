/**
 * The write API's `Idempotency-Key` answers (see `bridge/write-api.ts`): one string per key scope
 * (`keys.idempotency`), claimed with `SET NX` while the first request runs, then holding its answer.
 */
import type { RedisConnection } from './connection.js';
import type { SeennKeys } from './keys.js';

/** Claims, reads and keeps the answers of idempotent requests. */
export class IdempotencyStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: SeennKeys,
  ) {}

  /** Stores `value` under `scope` for `ttlSeconds` unless something is there; `true` when it was claimed. */
  async claim(scope: string, value: string, ttlSeconds: number): Promise<boolean> {
    return (await this.redis.set(this.keys.idempotency(scope), value, 'EX', ttlSeconds, 'NX')) !== null;
  }

  /** What `scope` holds, or `null`. */
  read(scope: string): Promise<string | null> {
    return this.redis.get(this.keys.idempotency(scope));
  }

  /** Replaces what `scope` holds with `value` for `ttlSeconds`. */
  async save(scope: string, value: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(this.keys.idempotency(scope), value, 'EX', ttlSeconds);
  }

  /** Frees `scope` (a failed first attempt). */
  async release(scope: string): Promise<void> {
    await this.redis.del(this.keys.idempotency(scope));
  }
}
