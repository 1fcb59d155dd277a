/**
 * Every Redis key this package uses, in one place. Keys derive from BullMQ's prefix, so a hash-tagged
 * prefix such as `{bull}` keeps them all in BullMQ's slot on Redis Cluster. Otherwise the keys of one
 * user share the hash tag `{<userTag(userId)>}`, derived from a hash of the user id (so no user id can
 * empty or choose it): the job snapshots, replay stream, job index and children indexes that one Lua
 * script touches always live in one slot. The user id itself follows the tag, URI-encoded, so key
 * names never hold raw user text and two users never share a key.
 */

/**
 * The hash tag of a user's keys: FNV-1a (32 bit) of the user id's UTF-16 code units, as 8 hex digits.
 * Not a secret and not collision-free: it only spreads users over cluster slots; the key names also
 * hold the full (encoded) user id.
 */
export function userTag(userId: string): string {
  return fnv1a32(userId).toString(16).padStart(8, '0');
}

/** FNV-1a (32 bit) of a string's UTF-16 code units, as an unsigned integer. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Builds the key names of one app under one BullMQ prefix. */
/** How many users' key roots {@link SeennKeys} keeps (then it starts over). */
const USER_ROOTS_CACHED = 10_000;

export class SeennKeys {
  /** `<prefix>:seenn:<appId>`: the root of every key. */
  readonly base: string;
  /** {@link user} answers, by user id. */
  private readonly userRoots = new Map<string, string>();

  /**
   * @param prefix - BullMQ's key prefix (default `bull`)
   * @param appId - the app whose keys these are
   */
  constructor(
    readonly prefix: string,
    readonly appId: string,
  ) {
    this.base = `${prefix}:seenn:${appId}`;
  }

  /** `<base>:u:{<userTag>}:<encoded userId>`: the root of one user's keys (one hash slot). */
  user(userId: string): string {
    let root = this.userRoots.get(userId);
    if (root === undefined) {
      root = `${this.base}:u:{${userTag(userId)}}:${encodeURIComponent(userId)}`;
      // Bounded: the publisher asks for the same few users' keys for every event.
      if (this.userRoots.size >= USER_ROOTS_CACHED) this.userRoots.clear();
      this.userRoots.set(userId, root);
    }
    return root;
  }

  /** Hash: the snapshot of one job (`v` version, `s` last applied source event id, `r` record JSON). */
  job(userId: string, jobId: string): string {
    return `${this.user(userId)}:job:${jobId}`;
  }

  /**
   * Hash: a job's output totals over all its streams (`b` bytes, `c` chunks); beside its snapshot, in
   * its user's slot. Output never goes into the replay stream.
   */
  output(userId: string, jobId: string): string {
    return `${this.job(userId, jobId)}:out`;
  }

  /** List: one output stream of a job, chunk JSON by `seq` (the list index); in its user's slot. */
  outputStream(userId: string, jobId: string, stream: string): string {
    return `${this.job(userId, jobId)}:out:${stream}`;
  }

  /** Stream: the user's replay log; each entry is one client-visible change (`e` event, `d` JSON). */
  stream(userId: string): string {
    return `${this.user(userId)}:stream`;
  }

  /** Sorted set: the user's job ids scored by creation time (for listing, newest first). */
  userJobs(userId: string): string {
    return `${this.user(userId)}:jobs`;
  }

  /**
   * Sorted set: the user's unfinished job ids scored by creation time — a subset of {@link userJobs}
   * kept by the commit script, so a recovered stream finds the jobs to watch without reading the
   * user's finished ones. It expires `activeJobSeconds` after the last job joined it.
   */
  openJobs(userId: string): string {
    return `${this.user(userId)}:open`;
  }

  /**
   * Sorted set: the user's finished job ids scored by the time they finished (epoch ms), kept by the
   * commit script so a fresh stream finds the recently finished jobs without reading the user's
   * history; its member `''` is scored by the instant since which it holds every job that finished
   * (jobs written before it existed are not in it; for a user with such jobs it is trusted only
   * `activeJobSeconds` after it began). Entries older than `replaySeconds` are trimmed from time to
   * time, which renews its TTL: it expires 1.25 × `replaySeconds` after its last trim.
   */
  finishedJobs(userId: string): string {
    return `${this.user(userId)}:done`;
  }

  /** Sorted set: a parent's child job ids scored by `childIndex` (in its user's slot). */
  children(userId: string, parentJobId: string): string {
    return `${this.user(userId)}:children:${parentJobId}`;
  }

  /** String: the user who owns a job (so a job can be found by id alone). */
  owner(jobId: string): string {
    return `${this.base}:owner:${jobId}`;
  }

  /** String: the per-app secret that seals descriptors in BullMQ job data (see `model/descriptor-seal.ts`). */
  descriptorSecret(): string {
    return `${this.base}:descriptor-secret`;
  }

  /** Pub/Sub channel: every change of this app, for bridges to fan out live (plain Pub/Sub; see `store/live-fanout.ts`). */
  liveChannel(): string {
    return `${this.base}:live`;
  }

  /** Shard channel: the changes of one user, in that user's slot (sharded Pub/Sub on a Redis Cluster; see `store/live-fanout.ts`). */
  liveShardChannel(userId: string): string {
    return `${this.user(userId)}:live`;
  }

  /**
   * `<prefix>:<queueName>:seenn:<appId>`: the root of one queue's keys. It starts like BullMQ's own
   * keys of that queue (`<prefix>:<queueName>:…`), so it carries the same hash tag: a queue `{video}`
   * under prefix `bull`, or any queue under prefix `{bull}`, keeps its Seenn keys in its own slot.
   * (BullMQ job ids cannot hold `:`, so no job's keys can collide with these.)
   */
  queueRoot(queueName: string): string {
    return `${this.prefix}:${queueName}:seenn:${this.appId}`;
  }

  /**
   * String: the events-stream id up to which every event of one queue is handled — the oldest of its
   * partitions' checkpoints (queue's slot). Publishers before partitions kept their one checkpoint here.
   */
  checkpoint(queueName: string): string {
    return `${this.queueRoot(queueName)}:checkpoint`;
  }

  /** Hash: partition number → the last events-stream id handled for that partition of one queue (queue's slot). */
  partitionCheckpoints(queueName: string): string {
    return `${this.queueRoot(queueName)}:checkpoints`;
  }

  /** String: how many partitions one queue's jobs are split into; set once by the first publisher (queue's slot). */
  partitionCount(queueName: string): string {
    return `${this.queueRoot(queueName)}:partitions`;
  }

  /** String: the lease naming the one publisher that reads one partition of a queue now (queue's slot). */
  lease(queueName: string, partition: number): string {
    return `${this.queueRoot(queueName)}:lease:${partition}`;
  }

  /** Sorted set: the publisher processes reading a queue, scored by when their membership expires (epoch ms; queue's slot). */
  publishers(queueName: string): string {
    return `${this.queueRoot(queueName)}:publishers`;
  }

  /** Set: Seenn ids of a queue's jobs that are not terminal yet (what a re-sync must revisit; queue's slot). */
  liveJobs(queueName: string): string {
    return `${this.queueRoot(queueName)}:live`;
  }

  /**
   * Hash: Seenn job id → the ETA predictions recorded for that job in one queue, awaiting its outcome
   * (`"<modelConfidence>,<madeAtMs>,<predictedEndMs>,<kind>"`, at most two joined by `;`: the first and
   * one mid-wait; kind 0 waiting, 1 running). Queue's slot; see `position/calibration.ts`.
   */
  etaPredictions(queueName: string): string {
    return `${this.queueRoot(queueName)}:etacal:pending`;
  }

  /** Sorted set: the job ids of {@link etaPredictions} scored by their first prediction's time (oldest dropped first; queue's slot). */
  etaPredictionTimes(queueName: string): string {
    return `${this.queueRoot(queueName)}:etacal:pending:at`;
  }

  /**
   * Hash: one queue's ETA calibration: per kind of ETA and model-confidence bucket `b` (waiting 0–9,
   * running 10–19), the decayed count of scored
   * predictions `n<b>`, of those that landed within ±20 % `h<b>`, and the sum of their model
   * confidences `s<b>` (queue's slot; see `position/calibration.ts`).
   */
  etaCalibration(queueName: string): string {
    return `${this.queueRoot(queueName)}:etacal:hist`;
  }

  /** Hash: BullMQ job id → why the publisher set that job's events aside (JSON), for one queue. */
  parkedJobs(queueName: string): string {
    return `${this.base}:q:${queueName}:parked`;
  }

  /**
   * Hash: the bridges of this app that are alive, by bridge id (each value `<expiresAtMs>|<JSON>`).
   * One key, so one slot on Redis Cluster.
   */
  bridges(): string {
    return `${this.base}:bridges`;
  }

  /** Pub/Sub channel: cancel requests for jobs BullMQ runs (`queueName\nbullId\nreason`; see `handles/cancel.ts`). */
  cancelChannel(): string {
    return `${this.base}:cancel`;
  }

  /**
   * Sorted set: the BullMQ ids of one queue with a cancel request kept (scored by when it expires,
   * epoch ms): what a worker process reads once per queue to learn the requests sent before it
   * listened (see `handles/cancel.ts`).
   */
  cancelRequests(queueName: string): string {
    return `${this.base}:q:${queueName}:cancels`;
  }

  /** String: the cancel request kept for one BullMQ job until its worker sees it (see `handles/cancel.ts`). */
  cancelRequest(queueName: string, bullId: string): string {
    return `${this.base}:q:${queueName}:cancel:${bullId}`;
  }

  /** String: the stored answer of one write-API request by its Idempotency-Key scope (a hash; see `bridge/write-api.ts`). */
  idempotency(scope: string): string {
    return `${this.base}:idem:${scope}`;
  }

  /**
   * List: one workflow's run durations in one queue (queue's slot), or, for jobs no BullMQ queue runs
   * (`queueName` undefined), `<base>:eta:<workflowId>:runs` (a key alone in its slot, always read and
   * written alone). See `position/history.ts`.
   */
  etaRuns(queueName: string | undefined, workflowId: string): string {
    return queueName === undefined
      ? `${this.base}:eta:${workflowId}:runs`
      : `${this.queueRoot(queueName)}:eta:${workflowId}:runs`;
  }

  /** List: a queue's finish times (completed and failed jobs; queue's slot). */
  etaCompletions(queueName: string): string {
    return `${this.queueRoot(queueName)}:done`;
  }

  /** List: a queue's completed runs, `"<finishedAtMs>:<durationMs>"`, every workflow (queue's slot). */
  etaQueueRuns(queueName: string): string {
    return `${this.queueRoot(queueName)}:runs`;
  }

  /** BullMQ's own keys of one queue (see {@link bullKeys}). */
  bull(queueName: string): BullQueueKeys {
    return bullKeys(this.prefix, queueName);
  }

  /** BullMQ's events stream of a queue. */
  bullEvents(queueName: string): string {
    return bullKeys(this.prefix, queueName).events;
  }

  /** BullMQ's hash of one job. */
  bullJob(queueName: string, bullJobId: string): string {
    return bullKeys(this.prefix, queueName).job(bullJobId);
  }
}

/**
 * BullMQ's own keys of one queue, `<prefix>:<queueName>:<suffix>` (BullMQ 6), as this package reads
 * them. The package never writes them; the rank index ({@link rankIndexKeys}) sits beside them.
 */
export interface BullQueueKeys {
  /** `<prefix>:<queueName>`: what BullMQ calls the queue key (`job.parent.queueKey`). */
  readonly root: string;
  /** List: jobs waiting, taken from the right end. */
  readonly wait: string;
  /** Sorted set: prioritized jobs, by priority. */
  readonly prioritized: string;
  /** Hash: the queue's options and state (`paused`, `max`, `opts.maxLenEvents`). */
  readonly meta: string;
  /** String: the global rate limiter's counter. */
  readonly limiter: string;
  /** Sorted set: delayed jobs, by run-at time. */
  readonly delayed: string;
  /** Sorted set: flow parents waiting for their children. */
  readonly waitingChildren: string;
  /** List: jobs running now. */
  readonly active: string;
  /** Sorted set: completed jobs, by finish time. */
  readonly completed: string;
  /** Sorted set: failed jobs, by finish time. */
  readonly failed: string;
  /** Stream: the queue's events. */
  readonly events: string;
  /** Hash: one job. */
  job(bullJobId: string): string;
}

/** BullMQ's keys of one queue under `prefix` (see {@link BullQueueKeys}). */
export function bullKeys(prefix: string, queueName: string): BullQueueKeys {
  const root = `${prefix}:${queueName}`;
  return {
    root,
    wait: `${root}:wait`,
    prioritized: `${root}:prioritized`,
    meta: `${root}:meta`,
    limiter: `${root}:limiter`,
    delayed: `${root}:delayed`,
    waitingChildren: `${root}:waiting-children`,
    active: `${root}:active`,
    completed: `${root}:completed`,
    failed: `${root}:failed`,
    events: `${root}:events`,
    job: (bullJobId) => `${root}:${bullJobId}`,
  };
}

/** BullMQ's key `<prefix>:<queueName>:<suffix>`. */
export function bullQueueKey(prefix: string, queueName: string, suffix: string): string {
  return `${prefix}:${queueName}:${suffix}`;
}

/** The BullMQ job key of a job of the queue whose key (`<prefix>:<queueName>`, BullMQ's `queueKey`) is given. */
export function bullJobKeyOf(queueKey: string, bullJobId: string): string {
  return `${queueKey}:${bullJobId}`;
}

/** The queue and job a BullMQ job key (`<prefix>:<queue>:<id>`) names, or `null` when it is not one under `prefix`. */
export function parseBullJobKey(prefix: string, key: string): { queueName: string; bullId: string } | null {
  const queuePrefix = `${prefix}:`;
  const cut = key.lastIndexOf(':');
  if (!key.startsWith(queuePrefix) || cut <= queuePrefix.length) return null;
  return { queueName: key.slice(queuePrefix.length, cut), bullId: key.slice(cut + 1) };
}

/**
 * The keys of a queue's rank index (see `store/lua/position-lookup.ts`): `<prefix>:<queueName>:seenn:rank`
 * (a zset), `…:rank:jobs` and `…:rank:state` (hashes), in the queue's hash slot. They hold only what
 * can be rebuilt from `wait`; deleting them costs one rebuild.
 */
export function rankIndexKeys(prefix: string, queueName: string): [string, string, string] {
  const root = bullQueueKey(prefix, queueName, 'seenn:rank');
  return [root, `${root}:jobs`, `${root}:state`];
}

/**
 * The root of a queue's ETA keys: `<prefix>:<queueName>:seenn:<appId>`, in the queue's hash slot
 * (BullMQ's keys of that queue are `<prefix>:<queueName>:<suffix>`).
 */
export function queueHistoryRoot(keys: SeennKeys, queueName: string): string {
  return keys.queueRoot(queueName);
}
