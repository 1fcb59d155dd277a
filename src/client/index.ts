/**
 * `seenn-bullmq/client`: the browser and Node client of the seenn-bullmq bridge (and of any
 * Seenn-compatible server). No server code: it needs only `fetch`.
 */
export {
  SeennClient,
  type ConnectionState,
  type SeennClientEvents,
  type JobUpdateSource,
  type ConnectedInfo,
  type ReconnectInfo,
  type RawEvent,
  type ClientJobPage,
} from './client.js';
export {
  CLIENT_DEFAULTS,
  type SeennClientOptions,
  type TokenProvider,
  type TokenRequestReason,
  type JitterMode,
  type TransportMode,
  type CursorStorage,
} from './options.js';
export { SeennClientError, CLIENT_ERROR_CODES, type ClientErrorCode } from './errors.js';
export { nextReconnectDelayMs, type BackoffInput } from './backoff.js';
export { isFinished, type ChildProgressUpdate } from './job-cache.js';
export type { OutputChunkEvent, OutputIterationOptions } from './output.js';
export type {
  SeennJob,
  JobStatus,
  Stage,
  QueueInfo,
  JobError,
  ChildrenStats,
  ParentLink,
  Attempt,
  ChildJobSummary,
  ParentWithChildSummaries,
} from '../model/wire.js';
export type { Listener } from './emitter.js';
