/**
 * The publisher's cache of the snapshots it wrote or read itself. A queue's lease makes one publisher the
 * writer of its jobs, so after a commit the publisher knows the snapshot (record, version, applied
 * source id) without reading it back. A stale entry is harmless: every commit is checked against the
 * stored version (CAS), so a snapshot someone else moved answers `conflict`, the entry is dropped and
 * the snapshot read afresh.
 */
import type { JobStore, VersionedRecord } from '../store/job-store.js';

/** Most snapshots kept per store (the oldest entry goes first). */
const CACHE_LIMIT = 50_000;

/** Snapshots this process committed last, by user and job. */
export class SnapshotCache {
  private readonly entries = new Map<string, VersionedRecord>();

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
   * Reads the snapshots of several jobs that are not cached yet, all at once, and remembers those
   * that exist, so the reads that follow find them here. One command per job, sent together: on the
   * publisher's auto-pipelined connection they leave in one socket write (a pipeline per user would
   * be one write each), and on a Cluster each goes to its own slot.
   */
  async prefetch(jobs: readonly { userId: string; jobId: string }[]): Promise<void> {
    await Promise.all(
      jobs.map(async ({ userId, jobId }) => {
        const key = cacheKey(userId, jobId);
        if (this.entries.has(key)) return;
        const snapshot = await this.store.read(userId, jobId);
        if (snapshot !== null && !this.entries.has(key)) this.put(key, snapshot);
      }),
    );
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

const caches = new WeakMap<JobStore, SnapshotCache>();

/** The snapshot cache of a store (one per store, shared by the publishers of one process). */
export function snapshotCache(store: JobStore): SnapshotCache {
  let cache = caches.get(store);
  if (cache === undefined) {
    cache = new SnapshotCache(store);
    caches.set(store, cache);
  }
  return cache;
}
