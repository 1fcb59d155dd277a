/**
 * The Redis side of the bridge registry (`health/bridge-registry.ts` holds what it means): one hash,
 * `keys.bridges()`, of bridge id → entry, written and read through the scripts of
 * `store/lua/bridge-registry.ts` (expiry judged by Redis's clock). One key: one slot on Redis Cluster.
 */
import type { RedisConnection } from './connection.js';
import type { SeennKeys } from './keys.js';
import { readBridgesCall, registerBridgeCall } from './lua/bridge-registry.js';
import { runCall } from './scripts.js';

/** Writes, reads and removes bridge entries. Holds no state of its own. */
export class BridgeRegistryStore {
  /**
   * @param redis - a connection this store may use (never closed by it)
   * @param keys - the key builder
   */
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: SeennKeys,
  ) {}

  /** Whether the connection is up now (while it is not, a command would only wait in ioredis's offline queue). */
  get connected(): boolean {
    return this.redis.status === 'ready';
  }

  /** Writes (or refreshes) one bridge's entry, expiring `ttlMs` after now by Redis's clock. */
  async register(bridgeId: string, entry: string, ttlMs: number): Promise<void> {
    await runCall(this.redis, registerBridgeCall({ registry: this.keys.bridges(), bridgeId, entry, ttlMs }));
  }

  /** The entries that have not expired, as written (expired ones are dropped). */
  async entries(): Promise<string[]> {
    return (await runCall(this.redis, readBridgesCall({ registry: this.keys.bridges() }))) as string[];
  }

  /** Removes one bridge's entry. */
  async remove(bridgeId: string): Promise<void> {
    await this.redis.hdel(this.keys.bridges(), bridgeId);
  }
}
