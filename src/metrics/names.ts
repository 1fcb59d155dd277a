/**
 * The metric names and label values dashboards rely on (see the README's "Monitoring"). Names follow
 * Prometheus conventions and BullMQ's where they overlap (`bullmq_*` is BullMQ's, ours are
 * `seenn_*`): base units in the name (`_seconds`), `_total` on counters only. Label values come from
 * small closed sets; no user or job id is ever a label.
 */

/** Every metric name, with its labels in the help text. */
export const METRIC_NAMES = Object.freeze({
  publisherEvents: 'seenn_publisher_events_total',
  publisherLagSeconds: 'seenn_publisher_lag_seconds',
  publisherLagEntries: 'seenn_publisher_lag_entries',
  publisherResyncs: 'seenn_publisher_resyncs_total',
  publisherParked: 'seenn_publisher_parked_jobs_total',
  publisherErrors: 'seenn_publisher_errors_total',
  publisherLeases: 'seenn_publisher_leases_held',
  storeCommitDuration: 'seenn_store_commit_duration_seconds',
  bridgeStreams: 'seenn_bridge_streams',
  bridgeEventsSent: 'seenn_bridge_events_sent_total',
  bridgeReconnects: 'seenn_bridge_reconnects_total',
  bridgeDisconnects: 'seenn_bridge_disconnects_total',
  bridgeAuthFailures: 'seenn_bridge_auth_failures_total',
  positionLookupDuration: 'seenn_position_lookup_duration_seconds',
} as const);

/** The `reason` label of `seenn_bridge_disconnects_total`, by the bridge's close reason. */
export const DISCONNECT_REASONS: Readonly<Record<string, string>> = Object.freeze({
  client: 'client',
  'slow-client': 'slow_client',
  expired: 'token_expired',
  idle: 'idle',
  shutdown: 'shutdown',
  error: 'error',
  gap: 'gap',
});

/** The value of a label outside its known set. */
export const OTHER = 'other';

/** At most this many distinct `event` values of `seenn_bridge_events_sent_total`; later ones count as `other`. */
export const MAX_EVENT_NAMES = 32;

/** SSE event names as the bridge writes them (`job.progress`, `connected`, …). */
const SSE_EVENT_NAME = /^[a-z][a-z_]{0,30}(\.[a-z][a-z_]{0,30})?$/;

/** Whether `name` looks like an SSE event name of the protocol (so it may be a label value). */
export function isEventNameLabel(name: string): boolean {
  return SSE_EVENT_NAME.test(name);
}

/** Buckets of `seenn_store_commit_duration_seconds` (one Lua script: sub-millisecond to a second). */
export const COMMIT_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
]);

/** Buckets of `seenn_position_lookup_duration_seconds` (one script per queue, longer on deep queues). */
export const LOOKUP_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
]);
