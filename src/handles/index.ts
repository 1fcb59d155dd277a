/**
 * Job handles and Seenn-only jobs: the seed's backend API (`setProgress`, `complete`, `fail`, `cancel`,
 * `refresh`) over the store's one commit path, and cancellation of any job from any process.
 */
export {
  attachHandle,
  setJobProgress,
  completeJob,
  failJob,
  type JobHandle,
  type JobHandleRef,
  type JobHandleMethods,
  type HandleProgressOptions,
  type HandleCompleteOptions,
  type HandleFailOptions,
} from './handle.js';
export { cancelJob, cancelListenerOf, CancelListener, CANCEL_REQUEST_TTL_SECONDS } from './cancel.js';
export {
  startSeennOnlyJob,
  createSeennOnlyParent,
  createSeennOnlyChild,
  createSeennOnlyBatch,
  SeennOnlyJobSchema,
  type SeennOnlyJobInput,
  type SeennOnlyParentSpec,
  type SeennOnlyChildLink,
  type SeennOnlyBatch,
} from './create.js';
export { writeJob, notFound, alreadyFinished, isWorkerDriven } from './write.js';
