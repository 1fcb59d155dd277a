/**
 * The one way state changes reach the store: read → compute (a caller's step, built on the reducer)
 * → compare-and-set commit → retry on a moved version. Every writer (the publisher, job handles, the
 * producer) goes through {@link transact}; none writes its own retry loop.
 *
 * Parents: a change that touches a parent is committed together with the parent's (one script, CAS
 * on both, see `store/family.ts`), so it stays exact across processes whatever happens. Within one
 * process, attempts touching the same parent also queue behind one another on the store's
 * {@link JobStore.parentLock}, so they do not keep invalidating each other's reads; across processes,
 * a conflict on a parent spreads the next attempt out a little ({@link TRANSACTION_DEFAULTS}).
 *
 * Outcome names mean one thing end to end: `duplicate` is a change whose source event the snapshot
 * had already applied (nothing written; invariant 2), `index-taken` a child whose `childIndex`
 * another job holds in its parent's children index.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { SeennError } from '../errors.js';
import type { ParentState } from './family.js';
import type { CommitResult, JobChange, JobStore, VersionedRecord } from './job-store.js';

/** How {@link transact} retries; every writer uses these defaults. */
export interface TransactionOptions {
  /** Commits tried at most this many times when a snapshot keeps moving. @defaultValue 50 */
  maxAttempts?: number;
  /**
   * After a conflict on a change that touches a parent, the next attempt waits a random time up to
   * `min(attempt, backoffCapMs)` ms (processes sharing a parent spread out). Without a parent it
   * retries at once. @defaultValue 10
   */
  backoffCapMs?: number;
}

/** The retry defaults of every transaction (the one place they live). */
export const TRANSACTION_DEFAULTS: Readonly<Required<TransactionOptions>> = Object.freeze({
  maxAttempts: 50,
  backoffCapMs: 10,
});

/** Where a transaction reads snapshots (the store itself by default; the publisher passes its cache). */
export interface SnapshotReader {
  /** Reads one snapshot, or `null` when there is none. */
  read(userId: string, jobId: string): Promise<VersionedRecord | null>;
}

/** How a transaction commits (the store's `commit` by default; the publisher's keeps its cache right). */
export type Committer = (userId: string, changes: readonly JobChange[]) => Promise<CommitResult>;

/**
 * What a step decided: commit `changes` (at least one; `value` goes with the outcome), or answer
 * `unchanged` without writing.
 */
export type StepResult<T, U = T> = { changes: readonly JobChange[]; value: T } | { unchanged: U };

/**
 * What an attempt works on once its job snapshots are read: the parent it touches (`null`: none)
 * and the step that computes its changes from that parent, read afresh under the parent lock
 * (`null` when the parent has no snapshot).
 */
export interface TransactionPlan<T, U = T> {
  parentJobId: string | null;
  step(parent: ParentState | null): StepResult<T, U> | Promise<StepResult<T, U>>;
}

/** One transaction: whose jobs, which snapshots to read, and how to plan the change from them. */
export interface TransactionSpec<T, U = T> {
  /** The user all snapshots of the change belong to (one commit touches one user). */
  userId: string;
  /** The snapshots read (outside the parent lock) at the start of every attempt, in this order. */
  jobIds: readonly string[];
  /**
   * Plans an attempt from the snapshots read (`null` where a job has none). Returning a
   * {@link StepResult} answers at once (nothing to write, or a coded error thrown).
   */
  plan(
    snapshots: readonly (VersionedRecord | null)[],
  ): TransactionPlan<T, U> | StepResult<T, U> | Promise<TransactionPlan<T, U> | StepResult<T, U>>;
  /** Where to read (default: the store). */
  reader?: SnapshotReader;
  /** How to commit (default: the store's `commit`). */
  commit?: Committer;
}

/** How a transaction ended. */
export type TransactionOutcome<T, U = T> =
  /** The change is written; `entryIds` are its replay entries. */
  | { status: 'committed'; value: T; entryIds: string[] }
  /** The step wrote nothing and answered `value`. */
  | { status: 'unchanged'; value: U }
  /** A snapshot had already applied the change's source event (or a later one): nothing written. */
  | { status: 'duplicate'; value: T }
  /** Another job holds the child index this change claims (`jobId` names the child): nothing written. */
  | { status: 'index-taken'; value: T; jobId: string }
  /** Every attempt met a moved snapshot. */
  | { status: 'exhausted'; attempts: number };

/**
 * Runs one transaction (see the module comment): per attempt, reads `spec.jobIds`, plans, takes the
 * parent lock when the plan names a parent, reads the parent, runs the step, and commits its changes
 * with compare-and-set; a conflict starts a new attempt on fresh state. Errors thrown by `plan` or
 * the step (or by Redis) propagate; the lock is released whatever happens.
 */
export async function transact<T, U = T>(
  store: JobStore,
  spec: TransactionSpec<T, U>,
  options: TransactionOptions = {},
): Promise<TransactionOutcome<T, U>> {
  const maxAttempts = options.maxAttempts ?? TRANSACTION_DEFAULTS.maxAttempts;
  const backoffCapMs = options.backoffCapMs ?? TRANSACTION_DEFAULTS.backoffCapMs;
  const reader = spec.reader ?? store;
  const commit: Committer = spec.commit ?? ((userId, changes) => store.commit(userId, changes));
  const { userId } = spec;
  for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
    const { jobIds } = spec;
    const snapshots =
      jobIds.length === 1
        ? [await reader.read(userId, jobIds[0] as string)]
        : await readAll(store, reader, userId, jobIds);
    const plannedOrPromise = spec.plan(snapshots);
    const planned = plannedOrPromise instanceof Promise ? await plannedOrPromise : plannedOrPromise;
    let outcome: TransactionOutcome<T, U> | null;
    if (!isPlan(planned)) {
      outcome =
        'unchanged' in planned
          ? { status: 'unchanged', value: planned.unchanged }
          : outcomeOf(planned, await commitChanges(commit, userId, planned));
    } else if (planned.parentJobId === null) {
      outcome = await commitStep(commit, userId, await planned.step(null));
    } else {
      const { parentJobId } = planned;
      outcome = await store.parentLock.run(parentLockKey(userId, parentJobId), async () =>
        commitStep(commit, userId, await planned.step(await readParent(store, userId, parentJobId))),
      );
      // Children of one parent in several processes: spread the next attempt out a little.
      if (outcome === null && backoffCapMs > 0) await delay(Math.random() * Math.min(attempt, backoffCapMs));
    }
    if (outcome !== null) return outcome;
  }
  return { status: 'exhausted', attempts: maxAttempts };
}

/** Commits a step's changes; `null` on a conflict (another attempt is due). */
async function commitStep<T, U>(
  commit: Committer,
  userId: string,
  step: StepResult<T, U>,
): Promise<TransactionOutcome<T, U> | null> {
  if ('unchanged' in step) return { status: 'unchanged', value: step.unchanged };
  return outcomeOf(step, await commitChanges(commit, userId, step));
}

/** Sends a step's changes to the committer (at least one change). */
function commitChanges(
  commit: Committer,
  userId: string,
  step: { changes: readonly JobChange[] },
): Promise<CommitResult> {
  if (step.changes.length === 0) throw new SeennError('INTERNAL_ERROR', 'a transaction step committed no change');
  return commit(userId, step.changes);
}

/** The outcome of a commit of a step's changes; `null` on a conflict (another attempt is due). */
function outcomeOf<T, U>(step: { value: T }, result: CommitResult): TransactionOutcome<T, U> | null {
  switch (result.status) {
    case 'ok':
      return { status: 'committed', value: step.value, entryIds: result.entryIds };
    case 'duplicate':
      return { status: 'duplicate', value: step.value };
    case 'index-taken':
      return { status: 'index-taken', value: step.value, jobId: result.jobId };
    case 'conflict':
      return null;
  }
}

function isPlan<T, U>(value: TransactionPlan<T, U> | StepResult<T, U>): value is TransactionPlan<T, U> {
  return 'step' in value;
}

/** Reads several snapshots (one round trip from the store itself). */
function readAll(
  store: JobStore,
  reader: SnapshotReader,
  userId: string,
  jobIds: readonly string[],
): Promise<(VersionedRecord | null)[]> {
  if (reader === store) return store.readMany(userId, jobIds);
  return Promise.all(jobIds.map((jobId) => reader.read(userId, jobId)));
}

/** Reads a parent for a family commit, or `null` when its snapshot does not exist. */
async function readParent(store: JobStore, userId: string, parentJobId: string): Promise<ParentState | null> {
  const snapshot = await store.read(userId, parentJobId);
  return snapshot === null ? null : { record: snapshot.record, version: snapshot.version };
}

/** The {@link JobStore.parentLock} key of a parent. */
function parentLockKey(userId: string, parentJobId: string): string {
  return `${userId}\n${parentJobId}`;
}
