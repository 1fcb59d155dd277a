/**
 * Seenn job ids. They are unique across all queues and URL-safe:
 * - `seenn.jobs.start` gives BullMQ a ULID as the job id, and the Seenn id is that ULID;
 * - a job added with plain `queue.add` (or a plain FlowProducer) gets
 *   `<base64url(queueName)>.<base64url(bullmqJobId)>`. The `.` cannot occur in a ULID or in
 *   base64url, so the two kinds never collide and the rule can be reversed.
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

/** The queue and BullMQ id behind a derived Seenn id, or `null` when `id` is not a derived one. */
export function parseDerivedJobId(id: string): { queueName: string; bullJobId: string } | null {
  const parts = id.split('.');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return null;
  const valid = /^[A-Za-z0-9_-]+$/;
  if (!valid.test(parts[0]) || !valid.test(parts[1])) return null;
  return { queueName: Buffer.from(parts[0], 'base64url').toString('utf8'), bullJobId: Buffer.from(parts[1], 'base64url').toString('utf8') };
}

/** Whether `id` can be a Seenn job id (URL-safe, bounded): a cheap check before touching Redis. */
export function isJobIdShape(id: string): boolean {
  return id.length > 0 && id.length <= 512 && /^[A-Za-z0-9._~-]+$/.test(id);
}
