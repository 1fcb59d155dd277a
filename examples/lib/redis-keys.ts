/**
 * Clean-up of one run's keys, shared by the demo, the benchmarks and the tests: they never flush a
 * Redis, they delete only the keys under their own prefix.
 */
import type { Cluster, Redis } from 'ioredis';

/**
 * Deletes every key under `prefix:` with SCAN + UNLINK. On a Redis Cluster it scans each master
 * and unlinks key by key on that master (a multi-key UNLINK would span slots).
 */
export async function deletePrefix(redis: Redis | Cluster, prefix: string): Promise<void> {
  if (redis.isCluster) {
    await Promise.all((redis as Cluster).nodes('master').map((node) => deleteOnNode(node, prefix, false)));
    return;
  }
  await deleteOnNode(redis as Redis, prefix, true);
}

async function deleteOnNode(node: Redis, prefix: string, multiKey: boolean): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length === 0) continue;
    if (multiKey) {
      await node.unlink(...keys);
    } else {
      const pipeline = node.pipeline();
      for (const key of keys) pipeline.unlink(key);
      await pipeline.exec();
    }
  } while (cursor !== '0');
}
