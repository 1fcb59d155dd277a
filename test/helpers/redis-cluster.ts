/** Throw-away Redis Clusters for tests: the helper is shared with the cluster example, see `examples/lib/redis-cluster.ts`. */
export {
  startRedisCluster,
  type RedisClusterServer,
  type RedisClusterOptions,
  type ClusterNodeProcess,
} from '../../examples/lib/redis-cluster.js';
