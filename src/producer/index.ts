/**
 * The producer: starting jobs on BullMQ with their Seenn descriptor.
 */
export { startJob, type StartJobInput } from './start-job.js';
