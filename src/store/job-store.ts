/**
 * The Seenn store: job snapshots, each user's replay stream and job index, and the owner index.
 * Every change goes through one Lua script (`applyChanges`, `store/lua/apply-changes.ts`); reads are plain commands.
 */
import { isDeepStrictEqual } from 'node:util';
import { randomBytes } from 'node:crypto';
import { CancelRequests } from './cancel-requests.js';
import { EtaRunsStore } from './history-store.js';
import { isCluster, type RedisConnection } from './connection.js';
import { SeennError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { NOOP_METRICS, type MetricsRecorder } from '../metrics/recorder.js';
import { finishedAtMs, isTerminal } from '../model/job.js';
import type { JobRecord } from '../model/record.js';
import type { SeennKeys } from './keys.js';
import { KeyedLock } from './keyed-lock.js';
import { liveFanout } from './live-fanout.js';
import { runCall } from './scripts.js';
import { applyChangesCall, type ApplyChange } from './lua/apply-changes.js';
import { dropExpiredCall } from './lua/drop-expired.js';
import { syncIdsCall } from './lua/sync-ids.js';

/** How long the store keeps things. */
export interface RetentionOptions {
  /** How long a finished (completed, failed, cancelled) job stays readable. @defaultValue 604800 (7 days) */
  finishedJobSeconds?: number;
  /** How long an unfinished job stays readable after its last change. @defaultValue 2592000 (30 days) */
  activeJobSeconds?: number;
  /** Entries kept in each user's replay stream (trimmed approximately). @defaultValue 1000 */
  replayMaxEntries?: number;
  /** How long a user's replay stream and job index live after their last change. @defaultValue 2592000 (30 days) */
  replaySeconds?: number;
}

/** Retention with every default applied. */
export type ResolvedRetention = Required<RetentionOptions>;

/** Most owner keys one MGET of {@link JobStore.ownersOf} asks for. */
const OWNERS_PER_MGET = 1_000;

/** The retention defaults (documented in the README). */
export const RETENTION_DEFAULTS: ResolvedRetention = Object.freeze({
  finishedJobSeconds: 7 * 24 * 3600,
  activeJobSeconds: 30 * 24 * 3600,
  replayMaxEntries: 1000,
  replaySeconds: 30 * 24 * 3600,
});

/** The job ids a fresh stream syncs ({@link JobStore.syncIds}), by the index they come from. */
export interface SyncIds {
  /** Unfinished jobs, newest first. */
  open: string[];
  /** Jobs that finished at or after the instant asked for, the latest to finish first. */
  finished: string[];
}

/** A snapshot with its optimistic-concurrency version and last applied source event id. */
export interface VersionedRecord {
  record: JobRecord;
  /** Bumped by every write; `0` means the snapshot does not exist. */
  version: number;
  /** The last BullMQ events-stream id applied to this job, if any. */
  src: string | null;
}

/** One snapshot to write in a {@link JobStore.commit}. */
export interface JobChange {
  /** The version read before computing this change (`0` for a new job). */
  expectedVersion: number;
  /** The BullMQ events-stream id this change applies, for idempotency. */
  src?: string;
  /** The new record. */
  record: JobRecord;
  /** The SSE event announcing the change, when users can see it. `data` is the JSON payload. */
  event?: { name: string; data: string };
  /**
   * Several events, in order, when one change carries several visible steps (the publisher applying
   * a job's events of one read at once); used instead of `event`. Each `data` is single-line JSON.
   */
  events?: readonly { name: string; data: string }[];
  /** Adds the job to its user's index (when it is created). */
  index?: boolean;
  /**
   * The caller's word that the last event's `data` is exactly `JSON.stringify(record.job)` (the
   * store then sends the job once without serialising it again to check).
   */
  lastEventIsJob?: boolean;
}

/**
 * What a commit did: written (`entryIds`: its replay entries); a snapshot moved since it was read
 * (`conflict`, nothing written); a snapshot had already applied the change's source event or a later
 * one (`duplicate`, nothing written); another job holds the `childIndex` a child claims in its
 * parent's children index (`index-taken`, `jobId` names the child; nothing written).
 */
export type CommitResult =
  | { status: 'ok'; entryIds: string[] }
  | { status: 'conflict' }
  | { status: 'duplicate' }
  | { status: 'index-taken'; jobId: string };

/** One entry of a user's replay stream. */
export interface ReplayEntry {
  /** The stream entry id: the SSE `id:`. */
  id: string;
  /** The SSE event name. */
  event: string;
  /** The JSON payload, as stored. */
  data: string;
}

/** Reads and writes Seenn state in Redis. Holds no job state of its own. */
export class JobStore {
  private secret: Promise<Uint8Array> | undefined;

  /**
   * Queues this process's transactions touching one parent (keyed by user and parent id; see
   * `store/transaction.ts`), so they do not keep invalidating each other's reads.
   */
  readonly parentLock = new KeyedLock();

  /** Cancel requests for BullMQ jobs a worker runs (`handles/cancel.ts`). */
  readonly cancelRequests: CancelRequests;

  /** The run durations of workflows no BullMQ queue runs (written when a Seenn-only job completes, read for ETAs and `/eta`). */
  readonly seennOnlyRuns: EtaRunsStore;

  /**
   * @param redis - a connection this store may use (never closed by it)
   * @param keys - the key builder
   * @param retention - retention with defaults applied
   * @param logger - where best-effort failures go (silent by default)
   * @param metrics - where commit durations go (`seenn_store_commit_duration_seconds`)
   */
  constructor(
    readonly redis: RedisConnection,
    readonly keys: SeennKeys,
    readonly retention: ResolvedRetention,
    private readonly logger: Logger = silentLogger,
    private readonly metrics: MetricsRecorder = NOOP_METRICS,
  ) {
    this.cancelRequests = new CancelRequests(redis, keys);
    this.seennOnlyRuns = new EtaRunsStore(redis, keys);
  }

  /** Reads one snapshot, or `null` when there is none. */
  async read(userId: string, jobId: string): Promise<VersionedRecord | null> {
    const [version, src, raw] = await this.redis.hmget(this.keys.job(userId, jobId), 'v', 's', 'r');
    return parseSnapshot(version ?? null, src ?? null, raw ?? null);
  }

  /**
   * Reads the snapshots of jobs of any users, in the order asked: on one Redis in one pipeline (one
   * write, one round trip), on a Cluster one {@link readMany} per user (a user's keys share a slot).
   */
  async readEach(jobs: readonly { userId: string; jobId: string }[]): Promise<(VersionedRecord | null)[]> {
    if (jobs.length <= 1 || !isCluster(this.redis)) return this.pipelinedReads(jobs);
    const byUser = new Map<string, number[]>();
    jobs.forEach(({ userId }, at) => {
      const positions = byUser.get(userId);
      if (positions === undefined) byUser.set(userId, [at]);
      else positions.push(at);
    });
    const answers = new Array<VersionedRecord | null>(jobs.length).fill(null);
    await Promise.all(
      [...byUser].map(async ([userId, positions]) => {
        const read = await this.readMany(
          userId,
          positions.map((at) => (jobs[at] as { jobId: string }).jobId),
        );
        positions.forEach((at, k) => (answers[at] = read[k] ?? null));
      }),
    );
    return answers;
  }

  /** Reads several snapshots of one user in one round trip, in the order asked. */
  readMany(userId: string, jobIds: readonly string[]): Promise<(VersionedRecord | null)[]> {
    return this.pipelinedReads(jobIds.map((jobId) => ({ userId, jobId })));
  }

  /** Reads snapshots in one pipeline (on a Cluster, all in one slot), or one command for one. */
  private async pipelinedReads(
    jobs: readonly { userId: string; jobId: string }[],
  ): Promise<(VersionedRecord | null)[]> {
    if (jobs.length === 0) return [];
    // One job: one command (a `pipeline()` of one costs ioredis about twice the CPU, bench/README issue 15).
    if (jobs.length === 1) {
      const { userId, jobId } = jobs[0] as { userId: string; jobId: string };
      return [
        await this.read(userId, jobId).catch((error: unknown) => {
          throw new SeennError('STORE_ERROR', 'could not read job snapshots', { cause: error });
        }),
      ];
    }
    const pipeline = this.redis.pipeline();
    for (const { userId, jobId } of jobs) pipeline.hmget(this.keys.job(userId, jobId), 'v', 's', 'r');
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, value]) => {
      if (error) throw new SeennError('STORE_ERROR', 'could not read job snapshots', { cause: error });
      const [version, src, raw] = value as (string | null)[];
      return parseSnapshot(version ?? null, src ?? null, raw ?? null);
    });
  }

  /**
   * Writes snapshots of one user atomically with their replay events, if no snapshot moved since it
   * was read and none already applied its `src`.
   */
  async commit(userId: string, changes: readonly JobChange[]): Promise<CommitResult> {
    // The parents' children indexes this commit touches (insertion order = KEYS order).
    const childrenOf = new Set<string>();
    const inCommit = new Map(changes.map((change) => [change.record.job.id, change.record]));
    const sharded = (await liveFanout(this.redis)) === 'sharded';
    const channel = sharded ? this.keys.liveShardChannel(userId) : this.keys.liveChannel();
    const encoded: ApplyChange[] = [];
    for (const change of changes) {
      const { job } = change.record;
      if (job.userId !== userId)
        throw new SeennError('INTERNAL_ERROR', 'a commit may only touch one user', { details: { jobId: job.id } });
      const events = change.events ?? (change.event === undefined ? [] : [change.event]);
      // A child stays in its parent's children index at its `childIndex` (refused as `index-taken` when
      // another job holds that index), whichever path writes it.
      const link = job.parent;
      if (link !== undefined) childrenOf.add(link.parentJobId);
      encoded.push({
        snapshot: this.keys.job(userId, job.id),
        expectedVersion: change.expectedVersion,
        src: change.src,
        record: recordArgument(change.record, events, change.lastEventIsJob === true),
        ttlMs: this.snapshotTtlSeconds(change.record) * 1000,
        events,
        indexScore: change.index ? Date.parse(job.createdAt) : undefined,
        openScore: isTerminal(job.status) ? undefined : Date.parse(job.createdAt),
        doneScore: isTerminal(job.status) ? finishedAtMs(job) : undefined,
        jobId: job.id,
        child:
          link === undefined
            ? undefined
            : { index: this.keys.children(userId, link.parentJobId), childIndex: link.childIndex },
      });
    }
    // A parent that ends with its own `ttlSeconds` takes its children index along.
    for (const record of inCommit.values())
      if (record.x.aggregate !== undefined && endsWithOwnTtl(record)) childrenOf.add(record.job.id);
    const call = applyChangesCall({
      stream: this.keys.stream(userId),
      userJobs: this.keys.userJobs(userId),
      openJobs: this.keys.openJobs(userId),
      finishedJobs: this.keys.finishedJobs(userId),
      channel,
      userId,
      replayMaxEntries: this.retention.replayMaxEntries,
      replayTtlMs: this.retention.replaySeconds * 1000,
      publishCommand: sharded ? 'SPUBLISH' : 'PUBLISH',
      activeJobTtlMs: this.retention.activeJobSeconds * 1000,
      changes: encoded,
      childrenIndexes: [...childrenOf].map((parentJobId) => ({
        key: this.keys.children(userId, parentJobId),
        ttlMs: this.childrenTtlSeconds(inCommit.get(parentJobId)) * 1000,
      })),
    });
    const answer = (await this.metrics.timeCommit(() => runCall(this.redis, call))) as string[];
    const [status, ...rest] = answer;
    if (status === 'ok') {
      await this.expireOwners(changes.map((change) => change.record).filter(endsWithOwnTtl));
      return { status, entryIds: rest };
    }
    // The script's own words: 'stale' (source event applied already) and 'duplicate' (index taken).
    if (status === 'conflict') return { status };
    if (status === 'stale') return { status: 'duplicate' };
    if (status === 'duplicate') return { status: 'index-taken', jobId: rest[0] ?? '' };
    throw new SeennError('STORE_ERROR', `unexpected answer from applyChanges: ${String(status)}`);
  }

  /**
   * Commits the first snapshots of new jobs (every change has `expectedVersion: 0`). A `conflict`
   * where every snapshot already stored is exactly the one being written counts as `ok` (with no
   * `entryIds`): ioredis sends a command again when the connection dropped before its answer came,
   * so the first write may have been this call's own.
   */
  async commitNew(userId: string, changes: readonly JobChange[]): Promise<CommitResult> {
    if (changes.some((change) => change.expectedVersion !== 0))
      throw new SeennError('INTERNAL_ERROR', 'commitNew writes new jobs only (expectedVersion 0)');
    const answer = await this.commit(userId, changes);
    if (answer.status !== 'conflict') return answer;
    const stored = await this.readMany(
      userId,
      changes.map((change) => change.record.job.id),
    );
    const ours = changes.every((change, i) => {
      const found = stored[i];
      return (
        found !== null &&
        found !== undefined &&
        isDeepStrictEqual(found.record, JSON.parse(JSON.stringify(change.record)))
      );
    });
    return ours ? { status: 'ok', entryIds: [] } : answer;
  }

  /**
   * How long a job's snapshot lives after this write: an unfinished job `activeJobSeconds`; a finished
   * one its own `ttlSeconds` (Seenn's per-job TTL) when it has one, else `finishedJobSeconds`.
   */
  snapshotTtlSeconds(record: JobRecord): number {
    if (!isTerminal(record.job.status)) return this.retention.activeJobSeconds;
    return record.x.ttlSeconds ?? this.retention.finishedJobSeconds;
  }

  /**
   * How long a parent's children index lives after this write: as long as its parent when the parent
   * (written in the same commit) has ended with its own `ttlSeconds`, else as long as any job can.
   */
  childrenTtlSeconds(parent?: JobRecord): number {
    if (parent !== undefined && endsWithOwnTtl(parent)) return this.snapshotTtlSeconds(parent);
    return Math.max(this.retention.activeJobSeconds, this.retention.finishedJobSeconds);
  }

  /**
   * Gives the owner entries of jobs that ended with their own `ttlSeconds` the snapshot's TTL, so
   * nothing of them outlives it. Each owner key sits in a slot of its own (separate commands). Best
   * effort: a failure is logged, and the entry then expires by its first TTL (a job whose snapshot is
   * gone reads as unknown whatever its owner entry says).
   */
  private async expireOwners(records: readonly JobRecord[]): Promise<void> {
    const results = await Promise.allSettled(
      records.map((record) =>
        this.redis.pexpire(this.keys.owner(record.job.id), this.snapshotTtlSeconds(record) * 1000),
      ),
    );
    for (const [i, result] of results.entries()) {
      if (result.status === 'rejected')
        this.logger.warn(
          { err: result.reason as unknown, jobId: records[i]?.job.id },
          'could not shorten the owner entry of a job that ended with its own ttlSeconds',
        );
    }
  }

  /** The ids of a parent's children, by `childIndex` (ids whose snapshot expired may remain). */
  async childIds(userId: string, parentJobId: string): Promise<string[]> {
    return this.redis.zrange(this.keys.children(userId, parentJobId), 0, -1);
  }

  /**
   * Records who owns new jobs (ids nobody holds yet). Owners are written once: an id another user
   * already holds is refused with `CONFLICT` (nothing is taken over). An id `userId` itself already
   * holds is accepted: ioredis sends a command again when the connection dropped before its answer
   * came, so the first write may be this call's own. Each owner key is in a Redis Cluster slot of its
   * own, so the writes are sent at once as separate commands (one pipeline would span slots).
   */
  async setOwners(userId: string, jobIds: readonly string[]): Promise<void> {
    if (jobIds.length === 0) return;
    const results = await Promise.allSettled(
      jobIds.map(async (jobId) => {
        const key = this.keys.owner(jobId);
        if ((await this.redis.set(key, userId, 'EX', this.ownerTtlSeconds(), 'NX')) === 'OK') return true;
        return (await this.redis.get(key)) === userId;
      }),
    );
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw new SeennError('STORE_ERROR', 'could not record job owners', { cause: failed.reason });
    const taken = jobIds.filter((_, i) => !(results[i] as PromiseFulfilledResult<boolean>).value);
    if (taken.length > 0)
      throw new SeennError('CONFLICT', 'job ids already have an owner', { details: { jobIds: taken } });
  }

  /**
   * Claims a job for `userId` unless another user holds it: owners are written once, so nothing (job
   * data, a `describe` answer) can take another user's job over. Refreshes the owner's TTL.
   *
   * @returns whether `userId` owns the job now
   */
  async claimOwner(jobId: string, userId: string): Promise<boolean> {
    const key = this.keys.owner(jobId);
    const set = await this.redis.set(key, userId, 'EX', this.ownerTtlSeconds(), 'NX');
    if (set === 'OK') return true;
    const owner = await this.redis.get(key);
    if (owner !== userId) return false;
    await this.redis.expire(key, this.ownerTtlSeconds());
    return true;
  }

  /** How long an owner entry lives (as long as any job can). */
  private ownerTtlSeconds(): number {
    return Math.max(this.retention.activeJobSeconds, this.retention.finishedJobSeconds);
  }

  /**
   * The app's secret for sealing descriptors (32 random bytes, created by the first process that
   * asks and shared through Redis; read once per process).
   */
  descriptorSecret(): Promise<Uint8Array> {
    this.secret ??= (async () => {
      const key = this.keys.descriptorSecret();
      await this.redis.set(key, randomBytes(32).toString('base64url'), 'NX');
      const stored = await this.redis.get(key);
      if (stored === null) throw new SeennError('STORE_ERROR', 'the descriptor secret vanished while it was read');
      return Buffer.from(stored, 'base64url');
    })();
    this.secret.catch(() => {
      this.secret = undefined;
    });
    return this.secret;
  }

  /**
   * Takes a job out of its queue's set of unfinished jobs (what a re-sync revisits), when it ended
   * outside the publisher (a cancel).
   */
  async dropUnfinished(queueName: string, jobId: string): Promise<void> {
    await this.redis.srem(this.keys.liveJobs(queueName), jobId);
  }

  /**
   * Forgets the owner entries of jobs whose first snapshot was never written (a refused create), so
   * their ids stay free.
   */
  async releaseOwners(jobIds: readonly string[]): Promise<void> {
    await Promise.all(jobIds.map((jobId) => this.redis.del(this.keys.owner(jobId))));
  }

  /** The user who owns a job, or `null`. */
  async ownerOf(jobId: string): Promise<string | null> {
    return this.redis.get(this.keys.owner(jobId));
  }

  /**
   * The owners of several jobs, in the order asked (`null`: none): on one Redis one MGET per
   * {@link OWNERS_PER_MGET} ids, on a Cluster (each id's key in its own slot) one GET each, sent at once.
   */
  async ownersOf(jobIds: readonly string[]): Promise<(string | null)[]> {
    if (jobIds.length <= 1 || isCluster(this.redis)) return Promise.all(jobIds.map((jobId) => this.ownerOf(jobId)));
    const chunks: Promise<(string | null)[]>[] = [];
    for (let at = 0; at < jobIds.length; at += OWNERS_PER_MGET)
      chunks.push(this.redis.mget(jobIds.slice(at, at + OWNERS_PER_MGET).map((jobId) => this.keys.owner(jobId))));
    return (await Promise.all(chunks)).flat();
  }

  /** Reads a job's record by id alone (owner lookup, then snapshot). */
  async readById(jobId: string): Promise<VersionedRecord | null> {
    const userId = await this.ownerOf(jobId);
    return userId === null ? null : this.read(userId, jobId);
  }

  /**
   * A page of a user's jobs, newest first. The cursor is opaque to callers; ids whose snapshot has
   * expired are dropped from the index as they are met.
   */
  async list(
    userId: string,
    options: { limit: number; cursor?: string },
  ): Promise<{ records: JobRecord[]; nextCursor?: string }> {
    const indexKey = this.keys.userJobs(userId);
    const after = options.cursor === undefined ? null : decodeCursor(options.cursor);
    const records: JobRecord[] = [];
    const max = after === null ? '+inf' : String(after.score);
    let offset = 0;
    const batch = Math.max(options.limit + 1, 50);
    for (;;) {
      const flat = await this.redis.zrevrangebyscore(indexKey, max, '-inf', 'WITHSCORES', 'LIMIT', offset, batch);
      if (flat.length === 0) break;
      const page: { id: string; score: number }[] = [];
      for (let i = 0; i < flat.length; i += 2) page.push({ id: flat[i] as string, score: Number(flat[i + 1]) });
      // Within one score Redis orders members descending here; skip up to and including the cursor.
      const fresh = after === null ? page : page.filter((entry) => entry.score < after.score || entry.id < after.id);
      const snapshots = await this.readListed(
        userId,
        fresh.map((entry) => ({ id: entry.id, key: indexKey })),
      );
      let expired = 0;
      for (const snapshot of snapshots) {
        if (snapshot === null) expired += 1;
        else if (records.length < options.limit) records.push(snapshot.record);
        else return { records, nextCursor: encodeCursor(records[records.length - 1] as JobRecord) };
      }
      if (flat.length < batch * 2) break;
      offset += batch - expired;
    }
    return { records };
  }

  /**
   * Up to `limit` of a user's unfinished jobs, newest first, from the unfinished-job index the commit
   * script keeps: the cost follows the jobs still running or queued, not the user's history. Ids whose
   * snapshot has expired are dropped from the index as they are met.
   */
  async listOpen(userId: string, limit: number): Promise<JobRecord[]> {
    const indexKey = this.keys.openJobs(userId);
    const ids = await this.redis.zrevrange(indexKey, 0, limit - 1);
    const snapshots = await this.readListed(
      userId,
      ids.map((id) => ({ id, key: indexKey })),
    );
    const records: JobRecord[] = [];
    for (const snapshot of snapshots)
      if (snapshot !== null && !isTerminal(snapshot.record.job.status)) records.push(snapshot.record);
    return records;
  }

  /**
   * The jobs a fresh stream syncs, as ids from the indexes the commit script keeps: up to `limit`
   * unfinished jobs (newest first) and up to `limit` jobs finished at or after `finishedSinceMs` (the
   * latest to finish first), read in one command whatever the user's history (none for a user
   * without jobs). `null` when the indexes are not trusted back to `finishedSinceMs` (a job that
   * finished then, or one left unfinished by a writer from before the indexes, may be missing from
   * them): the caller reads the user's job list instead.
   */
  async syncIds(userId: string, finishedSinceMs: number, limit: number): Promise<SyncIds | null> {
    const answer = (await runCall(
      this.redis,
      syncIdsCall({
        finishedJobs: this.keys.finishedJobs(userId),
        openJobs: this.keys.openJobs(userId),
        userJobs: this.keys.userJobs(userId),
        finishedSinceMs,
        limit,
      }),
    )) as [0] | [1, string[], string[]];
    if (answer[0] === 0) return null;
    const [, open, finished] = answer;
    return { open, finished: finished.filter((id) => id !== '').slice(0, limit) };
  }

  /**
   * The records of jobs {@link syncIds} listed, in order, each with the index it came from; ids whose
   * snapshot has expired are left out and leave that index.
   */
  async readIndexed(userId: string, entries: readonly { id: string; index: keyof SyncIds }[]): Promise<JobRecord[]> {
    const keys: Record<keyof SyncIds, string> = {
      open: this.keys.openJobs(userId),
      finished: this.keys.finishedJobs(userId),
    };
    const snapshots = await this.readListed(
      userId,
      entries.map(({ id, index }) => ({ id, key: keys[index] })),
    );
    const records: JobRecord[] = [];
    for (const snapshot of snapshots) if (snapshot !== null) records.push(snapshot.record);
    return records;
  }

  /**
   * The snapshots of `listed` jobs, each a member of the user's index `key`, in order (`null` for each
   * whose snapshot has expired); the expired ids leave their index, unless a job with the same id was
   * created meanwhile.
   */
  private async readListed(
    userId: string,
    listed: readonly { id: string; key: string }[],
  ): Promise<(VersionedRecord | null)[]> {
    const snapshots = await this.readMany(
      userId,
      listed.map(({ id }) => id),
    );
    const expired = new Map<string, { id: string; snapshot: string }[]>();
    listed.forEach(({ id, key }, i) => {
      if (snapshots[i] !== null) return;
      const entry = { id, snapshot: this.keys.job(userId, id) };
      const ids = expired.get(key);
      if (ids === undefined) expired.set(key, [entry]);
      else ids.push(entry);
    });
    await Promise.all([...expired].map(([key, ids]) => runCall(this.redis, dropExpiredCall(key, ids))));
    return snapshots;
  }

  /** Up to `count` replay entries after `afterId` (exclusive), oldest first. */
  async readStream(userId: string, afterId: string, count: number): Promise<ReplayEntry[]> {
    const entries = await this.redis.xrange(this.keys.stream(userId), `(${afterId}`, '+', 'COUNT', count);
    return entries.map(([id, fields]) => toReplayEntry(id, fields));
  }

  /**
   * Up to `count` replay entries after `afterId` (exclusive), then the stream's oldest and newest ids,
   * sent together on this one connection and so read by Redis in that order: when the oldest is still
   * ≤ `afterId`, nothing after `afterId` was trimmed before the entries were read.
   */
  async readStreamAfter(
    userId: string,
    afterId: string,
    count: number,
  ): Promise<{ entries: ReplayEntry[]; first: string | null; last: string | null }> {
    const [entries, first, last] = await Promise.all([
      this.readStream(userId, afterId, count),
      this.firstStreamId(userId),
      this.lastStreamId(userId),
    ]);
    return { entries, first, last };
  }

  /** The id of the oldest entry still in a user's replay stream, or `null` when it is empty. */
  async firstStreamId(userId: string): Promise<string | null> {
    const entries = await this.redis.xrange(this.keys.stream(userId), '-', '+', 'COUNT', 1);
    return entries[0]?.[0] ?? null;
  }

  /** The id of the newest entry in a user's replay stream, or `null` when it is empty. */
  async lastStreamId(userId: string): Promise<string | null> {
    const entries = await this.redis.xrevrange(this.keys.stream(userId), '+', '-', 'COUNT', 1);
    return entries[0]?.[0] ?? null;
  }
}

/** Whether a record is a finished job with its own `ttlSeconds` (its keys then expire by it). */
function endsWithOwnTtl(record: JobRecord): boolean {
  return record.x.ttlSeconds !== undefined && isTerminal(record.job.status);
}

/**
 * The `record` argument of applyChanges: the record's JSON, or — when the change's last event payload
 * is the record's job, as it is for every visible change the publisher makes — `'+'` and the record's
 * `x` JSON alone, so the job travels to Redis once (the script joins the two).
 */
function recordArgument(record: JobRecord, events: readonly { data: string }[], lastEventIsJob: boolean): string {
  const last = events[events.length - 1];
  if (last === undefined) return JSON.stringify(record);
  if (lastEventIsJob) return `+${JSON.stringify(record.x)}`;
  const job = JSON.stringify(record.job);
  const x = JSON.stringify(record.x);
  return job === last.data ? `+${x}` : `{"job":${job},"x":${x}}`;
}

function parseSnapshot(version: string | null, src: string | null, raw: string | null): VersionedRecord | null {
  if (raw === null || version === null) return null;
  return { record: JSON.parse(raw) as JobRecord, version: Number(version), src };
}

function toReplayEntry(id: string, fields: string[]): ReplayEntry {
  let event = '';
  let data = '';
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 'e') event = fields[i + 1] ?? '';
    else if (fields[i] === 'd') data = fields[i + 1] ?? '';
  }
  return { id, event, data };
}

function encodeCursor(record: JobRecord): string {
  return Buffer.from(JSON.stringify([Date.parse(record.job.createdAt), record.job.id]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { score: number; id: string } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && typeof parsed[0] === 'number' && typeof parsed[1] === 'string')
      return { score: parsed[0], id: parsed[1] };
  } catch {
    // fall through to the coded error below
  }
  throw new SeennError('VALIDATION_ERROR', 'cursor is not one this server issued', { details: { cursor } });
}
