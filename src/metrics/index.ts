/**
 * Prometheus metrics (seenn_*): the recorder the other modules call through, its prom-client side,
 * the `metrics` option and the `(req, res)` handler.
 */
export { NOOP_METRICS, type LagReading, type MetricsRecorder } from './recorder.js';
export { PrometheusMetrics, LAG_READ_TIMEOUT_MS } from './prometheus.js';
export {
  METRIC_NAMES,
  DISCONNECT_REASONS,
  COMMIT_BUCKETS_SECONDS,
  LOOKUP_BUCKETS_SECONDS,
  MAX_EVENT_NAMES,
} from './names.js';
export {
  defaultMetricsRegistry,
  metricsRecorder,
  resolveMetricsOptions,
  type MetricsOptions,
  type ResolvedMetrics,
} from './options.js';
export { createMetricsHandler, exposition, metricsOffError, type NodeHandler } from './handler.js';
export { recordPublisher } from './publisher.js';
