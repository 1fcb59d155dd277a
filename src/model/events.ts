/**
 * Which SSE event announces a job's new state. Clients replace their copy of the job with the
 * payload whatever the name; the name follows the Seenn SDKs' own mapping.
 */
import type { JobStatus } from './job.js';

/** The SSE event names that carry a full job object. */
export const JOB_EVENT_NAMES = ['job.sync', 'job.started', 'job.progress', 'job.completed', 'job.failed', 'job.cancelled'] as const;

/** An SSE event name that carries a full job object. */
export type JobEventName = (typeof JOB_EVENT_NAMES)[number];

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
