/**
 * What the cluster test files share: a throw-away Redis Cluster (and, when asked, the slot checker
 * watching every call), one client of it, and the clean-up of the test's keys.
 */
import type { Cluster } from 'ioredis';
import { startRedisCluster, type RedisClusterOptions, type RedisClusterServer } from '../helpers/redis-cluster.js';
import { deletePrefix } from '../helpers/redis.js';
import { installSlotChecker, type SlotChecker } from '../helpers/slot-checker.js';

/** A running cluster, its client, and the slot checker when one was installed. */
export interface ClusterBed {
  cluster: RedisClusterServer;
  redis: Cluster;
  checker: SlotChecker | undefined;
  /** Uninstalls the checker, deletes the keys under `prefix`, quits the client and stops the cluster. */
  close(prefix: string): Promise<void>;
}

/** Starts a cluster of `masters` (with `replicasPerMaster`), installs the slot checker when `slotChecker`, and connects. */
export async function openClusterBed(options: RedisClusterOptions & { slotChecker?: boolean }): Promise<ClusterBed> {
  const { slotChecker = false, ...clusterOptions } = options;
  const cluster = await startRedisCluster(clusterOptions);
  const checker = slotChecker ? installSlotChecker() : undefined;
  const redis = cluster.connect();
  return {
    cluster,
    redis,
    checker,
    async close(prefix) {
      checker?.uninstall();
      await deletePrefix(redis, prefix);
      await redis.quit();
      await cluster.stop();
    },
  };
}
