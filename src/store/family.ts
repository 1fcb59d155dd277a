/**
 * Parents and children in the store: a child's change and the change it makes to its parent go in
 * ONE commit (one script, CAS on both snapshots; the script also keeps the parent's children index), so no child change is ever lost or counted twice,
 * whichever process applies it. Reading, the retry and the in-process parent lock are
 * `store/transaction.ts`'s; this module computes the changes.
 */
import { applyChildChange, parentEventOf, recordsDiffer } from '../model/parent.js';
import { jobEventOf, type JobRecord } from '../model/record.js';
import { SeennError } from '../errors.js';
import type { JobChange, JobStore } from './job-store.js';
import { transact } from './transaction.js';

/** A parent as read for a family commit; `version` 0 means its first snapshot is written by this commit. */
export interface ParentState {
  record: JobRecord;
  version: number;
}

/** A child's change and the record it replaces (`null` when the child is new). */
export interface ChildChange {
  change: JobChange;
  previous: JobRecord | null;
}

/**
 * The changes that commit a child's `change` (from `previousChild`, `null` when new) together with
 * the change it makes to `parent` at `atMs`. See {@link withParentChanges}.
 */
export function withParentChange(
  change: JobChange,
  previousChild: JobRecord | null,
  parent: ParentState | null,
  atMs: number,
): JobChange[] {
  return withParentChanges([{ change, previous: previousChild }], parent, atMs);
}

/**
 * The changes that commit several children's changes (all of `parent`, or none linked) together
 * with what they do to `parent` at `atMs`. Without a parent (none, expired, or not a parent) they
 * are the children's changes alone (the store keeps each child in its parent's children index
 * whatever). The parent's change is left out when nothing of it moved; it is announced (`job.*` on a
 * status change or when it is new, `child.progress` otherwise) when something visible did, and it
 * comes first when it is new, last otherwise.
 */
export function withParentChanges(
  children: readonly ChildChange[],
  parent: ParentState | null,
  atMs: number,
): JobChange[] {
  if (parent === null || parent.record.x.aggregate === undefined) return children.map(({ change }) => change);
  const changes = children.map(({ change }) => change);
  let next = parent.record;
  for (const { change, previous } of children) {
    if (change.record.job.parent?.parentJobId === parent.record.job.id)
      next = applyChildChange(next, previous, change.record, atMs);
  }
  if (parent.version > 0 && !recordsDiffer(parent.record, next)) return changes;
  const parentChange: JobChange = { expectedVersion: parent.version, record: next };
  if (parent.version === 0) {
    parentChange.index = true;
    parentChange.event = jobEventOf(next.job);
    return [parentChange, ...changes];
  }
  const event = parentEventOf(parent.record.job, next.job);
  if (event !== null) parentChange.event = event;
  return [...changes, parentChange];
}

/** What {@link commitNewChild} did (nothing is written unless `committed`). */
export type NewChildOutcome = 'committed' | 'no-parent' | 'index-taken' | 'exhausted';

/**
 * Commits the first snapshot of a child (`record.job.parent` names its parent and `childIndex`)
 * together with its parent's counters, as one transaction (retried while the parent moves).
 * `no-parent` when the parent has no snapshot; `index-taken` when another job holds the index.
 */
export async function commitNewChild(store: JobStore, record: JobRecord): Promise<NewChildOutcome> {
  const link = record.job.parent;
  if (link === undefined) throw new SeennError('INTERNAL_ERROR', `job ${record.job.id} is no child`);
  const change: JobChange = {
    expectedVersion: 0,
    record,
    event: jobEventOf(record.job),
    index: true,
  };
  const outcome = await transact<NewChildOutcome>(store, {
    userId: record.job.userId,
    jobIds: [],
    plan: () => ({
      parentJobId: link.parentJobId,
      step: (parent) =>
        parent === null
          ? { unchanged: 'no-parent' }
          : { changes: withParentChange(change, null, parent, Date.parse(record.job.createdAt)), value: 'committed' },
    }),
  });
  switch (outcome.status) {
    case 'committed':
    case 'unchanged':
      return outcome.value;
    case 'index-taken':
    case 'exhausted':
      return outcome.status;
    case 'duplicate':
      // A new child carries no source event id, so no snapshot can have applied it already.
      throw new SeennError('STORE_ERROR', `the first snapshot of job ${record.job.id} was refused (duplicate)`);
  }
}
