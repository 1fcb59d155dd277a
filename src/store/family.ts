/**
 * Parents and children in the store: a child's change and the change it makes to its parent go in
 * ONE commit (one script, CAS on both snapshots; the script also keeps the parent's children index), so no child change is ever lost or counted twice,
 * whichever process applies it. Within one process, commits touching the same parent are queued by
 * {@link parentLock} so they do not keep invalidating each other's reads.
 */
import { eventNameForStatus } from '../model/events.js';
import { applyChildChange, parentEventOf, recordsDiffer } from '../model/parent.js';
import type { JobRecord } from '../model/record.js';
import type { JobChange, JobStore } from './job-store.js';

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
    parentChange.event = { name: eventNameForStatus(next.job.status), data: JSON.stringify(next.job) };
    return [parentChange, ...changes];
  }
  const event = parentEventOf(parent.record.job, next.job);
  if (event !== null) parentChange.event = event;
  return [...changes, parentChange];
}

/** Runs async tasks one at a time per key (a promise chain per key, dropped when idle). */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `task` after every task queued before it under `key`. */
  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => done);
    this.tails.set(key, tail);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

const locks = new WeakMap<JobStore, KeyedLock>();

/** The lock that queues this process's commits touching one parent (`key`: see {@link parentLockKey}). */
export function parentLock(store: JobStore): KeyedLock {
  let lock = locks.get(store);
  if (lock === undefined) {
    lock = new KeyedLock();
    locks.set(store, lock);
  }
  return lock;
}

/** The {@link parentLock} key of a parent. */
export function parentLockKey(userId: string, parentJobId: string): string {
  return `${userId}\n${parentJobId}`;
}

/** Reads a parent for a family commit, or `null` when its snapshot does not exist. */
export async function readParent(store: JobStore, userId: string, parentJobId: string): Promise<ParentState | null> {
  const snapshot = await store.read(userId, parentJobId);
  return snapshot === null ? null : { record: snapshot.record, version: snapshot.version };
}
