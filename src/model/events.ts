/**
 * Which SSE event announces a job's new state. The names and the mapping live in `wire.ts` (zod-free,
 * so the client shares them); this module names them for the server code that imports them from here.
 */
export { JOB_EVENT_NAMES, eventNameForStatus, type JobEventName } from './wire.js';
