/**
 * The bridge: Seenn-compatible SSE and REST for end users, the per-process live hub, and the Express
 * adapter.
 */
export { Bridge, type BridgeStats } from './bridge.js';
export { createBridgeRouter, type BridgeRouter, type ExpressBridgeOptions } from './express-adapter.js';
export {
  BRIDGE_DEFAULTS,
  resolveBridgeOptions,
  type AuthResult,
  type BridgeAuth,
  type BridgeOptions,
  type RateLimitOptions,
  type ResolvedBridgeOptions,
} from './options.js';
export { SSE_HEADERS, type CloseReason } from './sse-session.js';
export type { HubStats } from './live-hub.js';
export { WriteApi, WRITE_API_DEFAULTS, type WriteApiOptions, type EtaStats } from './write-api.js';
