/**
 * What `createParent`, `createChild` and `createBatch` share: the first records of parents and
 * children, and what happens to them when BullMQ refuses to add the children.
 */
import type { JobsOptions } from 'bullmq';
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';
import { DESCRIPTOR_KEY, StoredDescriptorSchema, type JobFields, type StoredDescriptor } from '../model/descriptor.js';
import { sealDescriptor, type SealedDescriptor } from '../model/descriptor-seal.js';
import { isTerminal } from '../model/job.js';
import { asParent, type ParentSpec } from '../model/parent.js';
import { jobEventOf, pendingRecord, type JobRecord } from '../model/record.js';
import { createRecord, reduce, type EnqueueFailedEvent } from '../model/reducer.js';
import { parseOrThrow } from '../options.js';
import { withParentChanges, type ChildChange } from '../store/family.js';
import type { JobChange } from '../store/job-store.js';
import { transact } from '../store/transaction.js';

/**
 * The first record of a parent that BullMQ does not run: `pending`, counting `spec.total` children
 * not created yet. `childQueue` is where children created without a queue go.
 */
export function seennParentRecord(
  id: string,
  appId: string,
  fields: JobFields,
  spec: ParentSpec,
  createdAtMs: number,
  childQueue?: string,
): JobRecord {
  const record = pendingRecord(id, appId, fields, createdAtMs);
  if (childQueue !== undefined) record.x.childQueue = childQueue;
  return asParent(record, spec);
}

/** A child (or a flow parent) about to be added to BullMQ: its record, descriptor (and its seal) and options. */
export interface PlannedJob {
  record: JobRecord;
  descriptor: StoredDescriptor;
  /** The descriptor sealed for this BullMQ job: what goes in `data.__seenn`. */
  sealed: SealedDescriptor;
  queue: string;
  opts: JobsOptions;
}

/** The BullMQ data of a planned job: the worker's data plus the sealed descriptor. */
export function plannedJobData(
  planned: PlannedJob,
  data: Record<string, unknown> | undefined,
): Record<string, unknown> {
  return { ...data, [DESCRIPTOR_KEY]: planned.sealed };
}

/**
 * Plans a job of app `appId`'s batch: its descriptor, sealed with `secret` (what goes in `data.__seenn`), its
 * BullMQ options (id and timestamp set) and its first record (`queued`, or `pending` when delayed or
 * when it waits for children).
 */
export function planJob(
  appId: string,
  secret: Uint8Array,
  id: string,
  fields: JobFields,
  family: { parent?: StoredDescriptor['parent']; children?: ParentSpec },
  queue: string,
  opts: JobsOptions | undefined,
  createdAtMs: number,
): PlannedJob {
  const draft: StoredDescriptor = { id, userId: fields.userId, jobType: fields.jobType, title: fields.title };
  if (fields.metadata !== undefined) draft.metadata = fields.metadata;
  if (fields.workflowId !== undefined) draft.workflowId = fields.workflowId;
  if (family.parent !== undefined) draft.parent = family.parent;
  if (family.children !== undefined) draft.children = family.children;
  const descriptor = parseOrThrow(StoredDescriptorSchema, draft, 'job descriptor', 'VALIDATION_ERROR');
  const bullOpts: JobsOptions = { ...opts, jobId: id, timestamp: createdAtMs };
  const state = family.children !== undefined ? 'waiting-children' : (bullOpts.delay ?? 0) > 0 ? 'delayed' : 'waiting';
  const created = createRecord(id, appId, descriptor, {
    queueName: queue,
    bullId: id,
    createdAtMs,
    maxAttempts: bullOpts.attempts ?? 1,
    state,
  });
  const record = family.children === undefined ? created : asParent(created, family.children);
  return { record, descriptor, sealed: sealDescriptor(secret, queue, id, descriptor), queue, opts: bullOpts };
}

/**
 * Shows jobs BullMQ refused as `failed` (`ENQUEUE_FAILED`), with their parent counting them (its
 * failure policy applies). With `failParent` the parent itself fails with `ENQUEUE_FAILED` first
 * (a flow whose parent BullMQ refused with the rest). Best effort: problems are logged, since the
 * caller rethrows BullMQ's error anyway.
 */
export async function markEnqueueFailed(
  deps: Pick<SeennContext, 'store' | 'logger'>,
  userId: string,
  parentJobId: string,
  childIds: readonly string[],
  error: unknown,
  failParent: boolean,
): Promise<void> {
  const message = error instanceof Error ? error.message : String(error);
  try {
    const outcome = await transact(deps.store, {
      userId,
      jobIds: childIds,
      plan: (snapshots) => ({
        parentJobId,
        step: (read) => {
          const nowMs = Date.now();
          const refused: EnqueueFailedEvent = { kind: 'enqueue-failed', at: nowMs, message };
          const children: ChildChange[] = [];
          for (const snapshot of snapshots) {
            if (snapshot === null || isTerminal(snapshot.record.job.status)) continue;
            const failed = reduce(snapshot.record, refused);
            children.push({
              change: { expectedVersion: snapshot.version, record: failed, event: jobEventOf(failed.job) },
              previous: snapshot.record,
            });
          }
          let parent = read;
          let parentFailure: JobChange | null = null;
          if (failParent && parent !== null && !isTerminal(parent.record.job.status)) {
            const failed = reduce(parent.record, refused);
            parentFailure = { expectedVersion: parent.version, record: failed, event: jobEventOf(failed.job) };
            // The children's changes then build on the failed parent, committed as its second write.
            parent = { record: failed, version: parent.version };
          }
          const changes = withParentChanges(children, parent, nowMs);
          const merged = parentFailure === null ? changes : mergeParentFailure(parentFailure, changes, parentJobId);
          return merged.length === 0 ? { unchanged: undefined } : { changes: merged, value: undefined };
        },
      }),
    });
    if (outcome.status === 'exhausted')
      throw new SeennError('STORE_ERROR', `parent ${parentJobId} kept changing while its children were marked failed`, {
        details: { parentJobId },
      });
    if (outcome.status !== 'committed' && outcome.status !== 'unchanged')
      throw new SeennError(
        'STORE_ERROR',
        `the failed enqueue of parent ${parentJobId} was refused (${outcome.status})`,
        {
          details: { parentJobId },
        },
      );
  } catch (commitError) {
    deps.logger.warn({ err: commitError, parentJobId }, 'could not record the failed enqueue');
  }
}

/**
 * Puts a parent's own failure into the family changes: the parent's last change (counters on the
 * failed parent) replaces it when there is one, else the failure goes alone at the front.
 */
function mergeParentFailure(parentFailure: JobChange, changes: JobChange[], parentJobId: string): JobChange[] {
  const last = changes[changes.length - 1];
  if (last !== undefined && last.record.job.id === parentJobId) {
    return [...changes.slice(0, -1), { ...last, event: jobEventOf(last.record.job) }];
  }
  return [parentFailure, ...changes];
}
