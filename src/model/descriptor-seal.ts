/**
 * Sealed descriptors: how a BullMQ job proves that `seenn.jobs.start` (or a batch) made it.
 *
 * Apps often spread user input into `queue.add` data, so anything in `job.data` may come from an end
 * user. A descriptor is therefore never trusted for what it says: the producer stores it as a
 * {@link SealedDescriptor} — the descriptor's JSON and an HMAC-SHA256 over the queue name, the BullMQ
 * job id the producer chose, and that JSON, keyed by a per-app secret kept in Redis. The publisher
 * recomputes the MAC; a descriptor whose MAC does not match (forged, edited by `job.updateData`, or
 * copied from another job) is ignored. Pure functions: the secret is passed in.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { StoredDescriptorSchema, type StoredDescriptor } from './descriptor.js';

/** What `job.data.__seenn` holds: the descriptor as JSON and its MAC. */
export interface SealedDescriptor {
  /** Format version. */
  v: 1;
  /** The {@link StoredDescriptor} as JSON. */
  d: string;
  /** HMAC-SHA256 (base64url) of `queueName \n bullJobId \n d`. */
  mac: string;
}

function macOf(secret: Uint8Array, queueName: string, bullJobId: string, json: string): Buffer {
  return createHmac('sha256', secret).update(`${queueName}\n${bullJobId}\n${json}`, 'utf8').digest();
}

/** Seals `descriptor` for the BullMQ job `bullJobId` of `queueName`. */
export function sealDescriptor(
  secret: Uint8Array,
  queueName: string,
  bullJobId: string,
  descriptor: StoredDescriptor,
): SealedDescriptor {
  const d = JSON.stringify(descriptor);
  return { v: 1, d, mac: macOf(secret, queueName, bullJobId, d).toString('base64url') };
}

/** Why a value in `job.data.__seenn` was not accepted. */
export type UnsealFailure = 'malformed' | 'bad-mac' | 'invalid' | 'id-mismatch';

/**
 * Opens a sealed descriptor found on the BullMQ job `bullJobId` of `queueName`: the descriptor when
 * its MAC holds, it is valid, and its Seenn id is that BullMQ job id; else why not.
 */
export function openSealedDescriptor(
  secret: Uint8Array,
  queueName: string,
  bullJobId: string,
  value: unknown,
): { ok: true; descriptor: StoredDescriptor } | { ok: false; reason: UnsealFailure } {
  if (typeof value !== 'object' || value === null) return { ok: false, reason: 'malformed' };
  const { v, d, mac } = value as Record<string, unknown>;
  if (v !== 1 || typeof d !== 'string' || typeof mac !== 'string') return { ok: false, reason: 'malformed' };
  const expected = macOf(secret, queueName, bullJobId, d);
  const given = Buffer.from(mac, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad-mac' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(d);
  } catch {
    return { ok: false, reason: 'invalid' };
  }
  const descriptor = StoredDescriptorSchema.safeParse(parsed);
  if (!descriptor.success) return { ok: false, reason: 'invalid' };
  if (descriptor.data.id !== bullJobId) return { ok: false, reason: 'id-mismatch' };
  return { ok: true, descriptor: descriptor.data };
}
