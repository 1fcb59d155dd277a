/**
 * The run durations of workflows no BullMQ queue runs (`keys.etaRuns(undefined, workflowId)`, written
 * by `JobStore.recordSeennOnlyRun` when a Seenn-only job completes), as the write API's `GET /eta`,
 * `GET /eta/:key` and `DELETE /eta/:key` read and forget them.
 */
import { isCluster, type RedisConnection } from './connection.js';
import type { SeennKeys } from './keys.js';

/** One workflow's stored durations (ms, oldest first as stored) and the list's remaining TTL (ms; ≤ 0: none). */
export interface EtaRuns {
  samples: string[];
  ttlMs: number;
}

/** Keys of run lists matched per SCAN round trip. */
const SCAN_COUNT = 500;
const SUFFIX = ':runs';

/** Reads and forgets workflows' run durations. */
export class EtaRunsStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: SeennKeys,
  ) {}

  /** The durations of `workflowId`. */
  async read(workflowId: string): Promise<EtaRuns> {
    const key = this.keys.etaRuns(undefined, workflowId);
    const [samples, ttlMs] = await Promise.all([this.redis.lrange(key, 0, -1), this.redis.pttl(key)]);
    return { samples, ttlMs };
  }

  /** Forgets `workflowId`'s durations; `true` when there were some. */
  async delete(workflowId: string): Promise<boolean> {
    return (await this.redis.del(this.keys.etaRuns(undefined, workflowId))) > 0;
  }

  /** Every workflow id with stored durations (SCAN, on every master of a Cluster), sorted. */
  async workflowIds(): Promise<string[]> {
    const head = this.keys.etaRuns(undefined, '').slice(0, -SUFFIX.length);
    const pattern = `${globEscape(head)}*${SUFFIX}`;
    const nodes = isCluster(this.redis) ? this.redis.nodes('master') : [this.redis];
    const ids = new Set<string>();
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
        cursor = next;
        for (const key of found) ids.add(key.slice(head.length, -SUFFIX.length));
      } while (cursor !== '0');
    }
    return [...ids].sort();
  }
}

/** Escapes Redis glob characters. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}
