/**
 * Seenn job ids. They are unique across all queues and URL-safe:
 * - `seenn.jobs.start` gives BullMQ a ULID as the job id, and the Seenn id is that ULID;
 * - a job added with plain `queue.add` (or a plain FlowProducer) gets
 *   `<base64url(queueName)>.<base64url(bullmqJobId)>`. The `.` cannot occur in a ULID or in
 *   base64url, so the two kinds never collide.
 */
import { ulid } from 'ulid';

/** A new ULID: the Seenn id (and BullMQ job id) of a job started through `seenn.jobs.start`. */
export function newJobId(): string {
  return ulid();
}

/** The Seenn id of a BullMQ job that did not come from `seenn.jobs.start`. */
export function derivedJobId(queueName: string, bullJobId: string): string {
  return `${Buffer.from(queueName, 'utf8').toString('base64url')}.${Buffer.from(bullJobId, 'utf8').toString('base64url')}`;
}

/** Whether `id` can be a Seenn job id (URL-safe, bounded): a cheap check before touching Redis. */
export function isJobIdShape(id: string): boolean {
  return id.length > 0 && id.length <= 512 && /^[A-Za-z0-9._~-]+$/.test(id);
}
