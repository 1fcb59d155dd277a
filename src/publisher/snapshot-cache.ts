/**
 * The publisher's cache of the snapshots it wrote or read itself. A queue's lease makes one publisher the
 * writer of its jobs, so after a commit the publisher knows the snapshot (record, version, applied
 * source id) without reading it back. Each `Publisher` owns one, shared by its queue readers (a
 * child's commit in one queue drops its parent, which another queue's reader may have cached).
 *
 * A stale entry is harmless. A decision to commit is checked against the stored version (CAS), so a
 * snapshot someone else moved answers `conflict`, the entry is dropped and the snapshot read afresh.
 * A decision NOT to commit (the event changes nothing, or was applied already) is not checked, and
 * needs no check: the applied source id only moves forward (a write without one keeps it), so a
 * cached id never claims more than the stored one; and what may move a job this publisher tracks
 * behind its back cannot make a no-op on the cached snapshot a change on the stored one — a cancel
 * ends the job (terminal: every later event is a no-op there too); a parent's children change only
 * the fields the parent's totals decide, which the reducer recomputes from the totals after every
 * event of the parent's own (one asymmetry: a progress write that lands while the parent waits for
 * its children, from an attempt that is over, is dropped on a cached snapshot that shows no child
 * started yet, where a fresh one showing children running would take its message — dropping it is
 * what the reducer means for a write of an attempt that is over, and a write of a running attempt
 * always finds the parent `running` here, since this publisher applied its `active`); a handle's or
 * the write routes' progress, complete and fail refuse a
 * job a worker drives; and another publisher that held the job's partition meanwhile (a lapsed lease)
 * applied events this one reads again from its older checkpoint, with the same reducer, so the first
 * of them that changed the snapshot is a change here too, and its commit finds the moved version.
 * `test/publisher/snapshot-cache.test.ts` pins the cancel case and a flow parent moved by another publisher.
 */
import type { JobStore, VersionedRecord } from '../store/job-store.js';

/** Most snapshots kept per publisher (the oldest entry goes first). */
const CACHE_LIMIT = 50_000;

/** Snapshots this process committed last, by user and job. */
export class SnapshotCache {
  private readonly entries = new Map<string, VersionedRecord>();

  /** @param store - where snapshots not cached are read */
  constructor(private readonly store: JobStore) {}

  /**
   * The snapshot of a job: the cached one when this process wrote or read it last, else read from
   * Redis (and remembered: the commit that follows is checked against its version all the same).
   */
  async read(userId: string, jobId: string): Promise<VersionedRecord | null> {
    const key = cacheKey(userId, jobId);
    const cached = this.entries.get(key);
    if (cached !== undefined) return cached;
    const read = await this.store.read(userId, jobId);
    if (read !== null && !this.entries.has(key)) this.put(key, read);
    return read;
  }

  /**
   * Reads the snapshots of several jobs that are not cached yet, all at once ({@link JobStore.readEach}:
   * one pipeline on one Redis), and remembers those that exist, so the reads that follow find them here.
   */
  async prefetch(jobs: readonly { userId: string; jobId: string }[]): Promise<void> {
    const missing = jobs.filter(({ userId, jobId }) => !this.entries.has(cacheKey(userId, jobId)));
    const read = await this.store.readEach(missing);
    missing.forEach(({ userId, jobId }, at) => {
      const snapshot = read[at];
      const key = cacheKey(userId, jobId);
      if (snapshot !== null && snapshot !== undefined && !this.entries.has(key)) this.put(key, snapshot);
    });
  }

  /** Remembers what a successful commit wrote (its records are never changed afterwards). */
  remember(userId: string, jobId: string, snapshot: VersionedRecord): void {
    this.put(cacheKey(userId, jobId), snapshot);
  }

  private put(key: string, snapshot: VersionedRecord): void {
    this.entries.delete(key);
    if (this.entries.size >= CACHE_LIMIT) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, snapshot);
  }

  /** Drops a job (a conflict, an error, or the job finished). */
  forget(userId: string, jobId: string): void {
    this.entries.delete(cacheKey(userId, jobId));
  }

  /** Drops every snapshot (this process lost partitions: what it cached of their jobs may be moved on by others). */
  clear(): void {
    this.entries.clear();
  }

  /** How many snapshots are cached. */
  get size(): number {
    return this.entries.size;
  }
}

function cacheKey(userId: string, jobId: string): string {
  return `${userId}\n${jobId}`;
}
