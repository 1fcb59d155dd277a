/** The store: every Redis key, the Lua scripts, and snapshot and replay-stream reads. */
export {
  JobStore,
  RETENTION_DEFAULTS,
  type RetentionOptions,
  type ResolvedRetention,
  type JobChange,
  type CommitResult,
  type ReplayEntry,
  type VersionedRecord,
} from './job-store.js';
export { SeennKeys } from './keys.js';
export {
  checkConnection,
  duplicateConnection,
  isCluster,
  openConnection,
  type ClusterConnectionOptions,
  type ConnectionInput,
  type OpenedConnection,
  type RedisConnection,
} from './connection.js';
