/**
 * The worker wrapper: `seenn.processor(fn)` and the `job.setProgress` it adds.
 */
export { createProcessor, type SeennProcessor, type SeennProcessorFunction, type SeennWorkerJob } from './processor.js';
export {
  PROCESSOR_DEFAULTS,
  resolveProcessorOptions,
  type ProcessorOptions,
  type ResolvedProcessorOptions,
} from './options.js';
export {
  HIDDEN_FAILURE_MESSAGE,
  SeennUserError,
  isControlFlowError,
  isUserFacingError,
  jobErrorOf,
  UNRECOVERABLE_CODE,
} from './job-errors.js';
