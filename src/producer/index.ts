/**
 * The producer: starting jobs on BullMQ with their Seenn descriptor.
 */
export { startJob, type StartJobInput } from './start-job.js';
export { createChild, createParent } from './batch-parent.js';
export { createBatch, type Batch } from './batch.js';
export type { BatchChildInput, CreateBatchInput, CreateChildInput, CreateParentInput } from './batch-input.js';
