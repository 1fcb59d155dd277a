/**
 * Health: liveness and readiness of a Seenn instance, and the Redis registry of live bridges.
 */
export {
  Health,
  type BridgeHealthSource,
  type HealthCheck,
  type HealthProbe,
  type HealthReport,
  type PublisherQueueState,
  type PublisherRun,
} from './health.js';
export { createHealthHandler, type HealthHandlerOptions } from './handler.js';
export { BridgeRegistration, readBridges, type BridgeEntry } from './bridge-registry.js';
export { HEALTH_DEFAULTS } from './options.js';
