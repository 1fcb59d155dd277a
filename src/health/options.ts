/**
 * The timings of health checks and of the bridge registry, in one place.
 */

/** Defaults of health checks and bridge registration. */
export const HEALTH_DEFAULTS = Object.freeze({
  /** A readiness check whose Redis PING has not answered after this long fails. */
  redisTimeoutMs: 1_000,
  /** How often a bridge refreshes its entry in the bridge registry. */
  bridgeHeartbeatMs: 5_000,
  /** How long a bridge's entry lives without a refresh (three heartbeats: one lost write is not a death). */
  bridgeTtlMs: 15_000,
} as const);
