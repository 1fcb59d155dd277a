/**
 * Which SSE event announces a job's new state. Clients replace their copy of the job with the
 * payload whatever the name; the name follows the Seenn SDKs' own mapping.
 */
import type { JobEventName, JobStatus } from './wire.js';

export { JOB_EVENT_NAMES, type JobEventName } from './wire.js';

/** The event a change to `status` is announced with. */
export function eventNameForStatus(status: JobStatus): Exclude<JobEventName, 'job.sync'> {
  switch (status) {
    case 'pending':
    case 'queued':
      return 'job.started';
    case 'running':
      return 'job.progress';
    case 'completed':
      return 'job.completed';
    case 'failed':
      return 'job.failed';
    case 'cancelled':
      return 'job.cancelled';
  }
}
