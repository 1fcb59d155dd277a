/** The model: Seenn job types and schemas, BullMQ → Seenn mapping, the reducer, parent arithmetic. Pure. */
export {
  JOB_STATUSES,
  CHILD_PROGRESS_MODES,
  PublicSeennJobSchema as SeennJobSchema,
  type SeennJob,
  type JobStatus,
  type ChildProgressMode,
  type Stage,
  type QueueInfo,
  type JobError,
  type ChildrenStats,
  type ParentLink,
  type Attempt,
  type ChildJobSummary,
} from './job.js';
export type { Descriptor, DescriptorInput } from './descriptor.js';
export { derivedJobId } from './ids.js';
export { CHILD_FAILURE_CODE, type ChildProgressPayload } from './parent.js';
export { CHILD_PROGRESS_EVENT } from './wire.js';
export type { SetProgressOptions, ProgressPayload } from './progress.js';
