/**
 * The bridge registry: each bridge process writes its id, open streams and start time into one Redis
 * hash every {@link HEALTH_DEFAULTS.bridgeHeartbeatMs}, with an expiry of
 * {@link HEALTH_DEFAULTS.bridgeTtlMs}, so ops (the admin page, `readBridges`) see every live bridge
 * and a dead one drops out by itself. Expiry is per entry and judged by Redis's clock (`TIME` in the
 * scripts of `store/lua/bridge-registry.ts`), so the clocks of bridge hosts do not matter. One key:
 * one slot on Redis Cluster. The Redis side is `store/bridge-registry.ts`.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../logger.js';
import { BridgeRegistryStore } from '../store/bridge-registry.js';
import type { RedisConnection } from '../store/connection.js';
import type { SeennKeys } from '../store/keys.js';
import { HEALTH_DEFAULTS } from './options.js';

/** One bridge as the registry shows it. */
export interface BridgeEntry {
  /** `<host>:<pid>:<random>`: unique per bridge object. */
  id: string;
  host: string;
  pid: number;
  /** SSE streams open on it at its last refresh. */
  streams: number;
  /** When it started, ISO 8601. */
  startedAt: string;
  /** When it last refreshed its entry, ISO 8601 (Redis's clock). */
  seenAt: string;
}

interface StoredEntry {
  id: string;
  host: string;
  pid: number;
  streams: number;
  startedAtMs: number;
  seenAtMs: number;
}

/** Every live bridge of the app, oldest first. */
export async function readBridges(redis: RedisConnection, keys: SeennKeys): Promise<BridgeEntry[]> {
  const raw = await new BridgeRegistryStore(redis, keys).entries();
  const entries: StoredEntry[] = [];
  for (const json of raw) {
    try {
      entries.push(JSON.parse(json) as StoredEntry);
    } catch {
      // An entry this version cannot read is skipped, not fatal.
    }
  }
  return entries
    .sort((a, b) => a.startedAtMs - b.startedAtMs || a.id.localeCompare(b.id))
    .map((entry) => ({
      id: entry.id,
      host: entry.host,
      pid: entry.pid,
      streams: entry.streams,
      startedAt: new Date(entry.startedAtMs).toISOString(),
      seenAt: new Date(entry.seenAtMs).toISOString(),
    }));
}

/** Keeps one bridge's entry in the registry while it runs. */
export class BridgeRegistration {
  /** This bridge's id in the registry. */
  readonly id = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly startedAtMs = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Whether the last refresh reached Redis. */
  lastWriteOk = false;

  /**
   * @param registry - where the entry is kept
   * @param streams - the bridge's open streams now
   * @param logger - where failed refreshes go
   * @param timing - heartbeat and TTL (defaults: {@link HEALTH_DEFAULTS})
   */
  constructor(
    private readonly registry: BridgeRegistryStore,
    private readonly streams: () => number,
    private readonly logger: Logger,
    private readonly timing: { heartbeatMs: number; ttlMs: number } = {
      heartbeatMs: HEALTH_DEFAULTS.bridgeHeartbeatMs,
      ttlMs: HEALTH_DEFAULTS.bridgeTtlMs,
    },
  ) {}

  /** Writes the entry now and every heartbeat after (idempotent). */
  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.refresh();
    this.timer = setInterval(() => this.refresh(), this.timing.heartbeatMs);
    this.timer.unref();
  }

  /** Writes the entry now (after any write in flight); failures are logged, never thrown. */
  refresh(): Promise<void> {
    this.writing = this.writing.then(async () => {
      if (this.stopped) return;
      const entry = JSON.stringify({
        id: this.id,
        host: hostname(),
        pid: process.pid,
        streams: this.streams(),
        startedAtMs: this.startedAtMs,
      });
      try {
        await this.registry.register(this.id, entry, this.timing.ttlMs);
        this.lastWriteOk = true;
      } catch (error) {
        this.lastWriteOk = false;
        this.logger.warn({ err: error }, 'bridge registry: refresh failed; will retry');
      }
    });
    return this.writing;
  }

  /** Stops refreshing and removes the entry (best effort: it expires anyway). Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    // Best effort, bounded: with Redis gone, closing must not hang (the entry expires anyway). While
    // the connection is down an HDEL would only wait in ioredis's offline queue: skip it.
    if (!this.registry.connected) return;
    const removed = this.writing.then(() => this.registry.remove(this.id)).catch(() => undefined);
    await Promise.race([removed, new Promise((resolve) => setTimeout(resolve, this.timing.heartbeatMs).unref())]);
  }
}
