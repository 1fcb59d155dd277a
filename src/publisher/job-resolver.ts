/**
 * Finds out whether a BullMQ job is tracked, and as whom. Jobs started with `seenn.jobs.start` carry
 * their descriptor in `job.data.__seenn`, sealed (an HMAC binds it to the queue and BullMQ job id the
 * producer chose): job data may hold end-user input, so an unsealed, forged, edited or copied
 * descriptor is ignored and the job is treated as a plain one. Plain jobs are offered to the app's
 * `describe(job)`. Owners are written once: nothing here can move a job to another user.
 * Answers are cached per publisher (bounded), so a job's hash is read at most once in the common case.
 * A job in a BullMQ flow names its parent (`job.parent`), which may live in another queue: the
 * resolver resolves that parent too, and counts a described flow parent's children at first sight.
 */
import { Job } from 'bullmq';
import type { SeennContext } from '../context.js';
import { bullJobKeyOf, parseBullJobKey } from '../store/keys.js';
import { SeennError } from '../errors.js';
import { DESCRIPTOR_KEY, DescriptorSchema, type Descriptor } from '../model/descriptor.js';
import { openSealedDescriptor } from '../model/descriptor-seal.js';
import { derivedJobId } from '../model/ids.js';
import type { ParentSpec } from '../model/parent.js';
import type { DescribeFn } from './options.js';

/** Who sees a tracked job, and under which Seenn id. */
export interface TrackedJob {
  seennId: string;
  userId: string;
}

/** A BullMQ job of any queue. */
export interface BullRef {
  queueName: string;
  bullId: string;
}

/** What creating a job's first snapshot needs: its descriptor and BullMQ job. */
export interface JobOrigin {
  descriptor: Descriptor;
  job: Job;
  /** The job's BullMQ flow parent, when it has one (in this `prefix`) and the descriptor names no parent. */
  flowParent?: BullRef;
  /** Whether the app's `describe` supplied the descriptor (rather than `jobs.start` / `jobs.createBatch`). */
  described: boolean;
}

const ULID_SHAPE = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const CACHE_LIMIT = 20_000;

/** What a {@link JobResolver} works with. */
export type JobResolverDeps = Pick<SeennContext, 'store' | 'queue' | 'keys'>;

/** Resolves BullMQ job ids of one queue to tracked Seenn jobs. */
export class JobResolver {
  private readonly cache = new Map<string, TrackedJob | null>();
  private readonly others = new Map<string, TrackedJob | null>();

  /**
   * @param ctx - what resolving needs: the store (owners, the descriptor secret), BullMQ queues and
   *   the keys (a `SeennContext` will do)
   * @param queueName - the queue whose jobs this resolves
   * @param describe - the app's describe function, if any
   * @param onDescribeError - told when `describe` throws or returns an invalid descriptor, when job
   *   data holds a descriptor that is not sealed for this job, and when a job's id belongs to another user
   */
  constructor(
    private readonly ctx: JobResolverDeps,
    private readonly queueName: string,
    private readonly describe: DescribeFn | null,
    private readonly onDescribeError: (error: unknown, bullId: string) => void,
  ) {}

  /** The tracked identity of a BullMQ job, or `null` when the job is invisible (or gone and unknown). */
  async resolve(bullId: string): Promise<TrackedJob | null> {
    const cached = this.cache.get(bullId);
    if (cached !== undefined) return cached;
    const tracked = await this.resolveIn(this.queueName, bullId);
    this.remember(bullId, tracked);
    return tracked;
  }

  /**
   * Reads the job from BullMQ and describes it: what creating its first snapshot needs. `null` when
   * the job is gone from BullMQ or nobody can see it.
   */
  async origin(bullId: string): Promise<JobOrigin | null> {
    return (await this.originOf(this.queueName, bullId))?.origin ?? null;
  }

  /** The tracked identity of a job of any queue (a flow parent or child), cached like {@link resolve}. */
  async resolveRef(ref: BullRef): Promise<TrackedJob | null> {
    const key = `${ref.queueName}\n${ref.bullId}`;
    const cached = this.others.get(key);
    if (cached !== undefined) return cached;
    const tracked = await this.resolveIn(ref.queueName, ref.bullId);
    if (this.others.size >= CACHE_LIMIT) this.others.clear();
    this.others.set(key, tracked);
    return tracked;
  }

  /** What creating a flow parent's first snapshot needs (see {@link origin}). */
  async parentOrigin(ref: BullRef): Promise<JobOrigin | null> {
    return (await this.originOf(ref.queueName, ref.bullId))?.origin ?? null;
  }

  /**
   * How a job counts its children, or `null` when it is no parent: the descriptor's `children`, else
   * (for a described job) the children BullMQ holds for it now — processed, pending, ignored and
   * failed. Children a `removeDependencyOnFailure` dropped before this first sight are not counted.
   */
  async childrenSpec(origin: JobOrigin): Promise<ParentSpec | null> {
    const { descriptor, job } = origin;
    if (descriptor.children !== undefined) return descriptor.children;
    if (!origin.described) return null;
    const counts = await job.getDependenciesCount();
    const total = (counts.processed ?? 0) + (counts.unprocessed ?? 0) + (counts.ignored ?? 0) + (counts.failed ?? 0);
    return total > 0 ? { total, mode: 'average', failParentOnChildFailure: true } : null;
  }

  /**
   * Asks Redis at once for the owners of those `bullIds` that are ULID-shaped and not cached yet (one
   * MGET on one Redis, `JobStore.ownersOf`) and caches the tracked ones found, so {@link resolve} answers
   * them without a round trip. Only a speed-up: an id without an owner is resolved by `resolve` as before.
   */
  async prefetchOwners(bullIds: readonly string[]): Promise<void> {
    const asked = bullIds.filter((bullId) => ULID_SHAPE.test(bullId) && !this.cache.has(bullId));
    const owners = await this.ctx.store.ownersOf(asked);
    asked.forEach((bullId, at) => {
      const userId = owners[at];
      if (typeof userId === 'string' && !this.cache.has(bullId)) this.remember(bullId, { seennId: bullId, userId });
    });
  }

  /** Forgets a job (after it has finished, so the cache holds live jobs). */
  forget(bullId: string): void {
    this.cache.delete(bullId);
  }

  private async resolveIn(queueName: string, bullId: string): Promise<TrackedJob | null> {
    const known = await this.knownOwner(queueName, bullId);
    return known ?? (await this.originOf(queueName, bullId))?.tracked ?? null;
  }

  private async knownOwner(queueName: string, bullId: string): Promise<TrackedJob | null> {
    // A ULID-shaped BullMQ id is the Seenn id of a `seenn.jobs.start` job (the common case: one GET);
    // only when it has no owner is the id derived for plain jobs asked (a second GET: another slot).
    if (ULID_SHAPE.test(bullId)) {
      const userId = await this.ctx.store.ownerOf(bullId);
      if (userId !== null) return { seennId: bullId, userId };
    }
    const seennId = derivedJobId(queueName, bullId);
    const userId = await this.ctx.store.ownerOf(seennId);
    return userId === null ? null : { seennId, userId };
  }

  private async originOf(
    queueName: string,
    bullId: string,
  ): Promise<{ tracked: TrackedJob; origin: JobOrigin } | null> {
    const job = await Job.fromId(this.ctx.queue(queueName), bullId);
    if (job === undefined) return null;
    const data: unknown = job.data;
    if (typeof data === 'object' && data !== null && Object.hasOwn(data, DESCRIPTOR_KEY)) {
      const secret = await this.ctx.store.descriptorSecret();
      const opened = openSealedDescriptor(secret, queueName, bullId, (data as Record<string, unknown>)[DESCRIPTOR_KEY]);
      if (opened.ok) {
        const { id, ...descriptor } = opened.descriptor;
        if (!(await this.claim(id, descriptor.userId, bullId))) return null;
        return {
          tracked: { seennId: id, userId: descriptor.userId },
          origin: this.withFlowParent({ descriptor, job, described: false }),
        };
      }
      // Not sealed for this job: job data cannot choose a Seenn identity. It is a plain job from here on.
      this.onDescribeError(
        new SeennError(
          'VALIDATION_ERROR',
          `job data holds a \`${DESCRIPTOR_KEY}\` descriptor that is not sealed for this job (${opened.reason}); it is ignored`,
          {
            details: { queueName, bullId, reason: opened.reason },
          },
        ),
        bullId,
      );
    }
    if (this.describe === null) return null;
    let described: unknown;
    try {
      described = await this.describe(job);
    } catch (error) {
      this.onDescribeError(error, bullId);
      return null;
    }
    if (described === null || described === undefined) return null;
    const parsed = DescriptorSchema.safeParse(described);
    if (!parsed.success) {
      this.onDescribeError(parsed.error, bullId);
      return null;
    }
    const seennId = derivedJobId(queueName, bullId);
    if (!(await this.claim(seennId, parsed.data.userId, bullId))) return null;
    return {
      tracked: { seennId, userId: parsed.data.userId },
      origin: this.withFlowParent({ descriptor: parsed.data, job, described: true }),
    };
  }

  /** Claims `seennId` for `userId`; when another user owns it, tells why the job stays invisible. */
  private async claim(seennId: string, userId: string, bullId: string): Promise<boolean> {
    if (await this.ctx.store.claimOwner(seennId, userId)) return true;
    this.onDescribeError(
      new SeennError('CONFLICT', `job ${seennId} belongs to another user; it is not taken over`, {
        details: { seennId },
      }),
      bullId,
    );
    return false;
  }

  /** The job a BullMQ job key (`<prefix>:<queue>:<id>`) names, or `null` when it is not one of this prefix. */
  refOfKey(key: string): BullRef | null {
    return parseBullJobKey(this.ctx.keys.prefix, key);
  }

  /** Adds the BullMQ flow parent a job names (`job.parent`), when its descriptor names none. */
  private withFlowParent(origin: JobOrigin): JobOrigin {
    const parent = origin.job.parent;
    if (origin.descriptor.parent !== undefined || parent?.id === undefined) return origin;
    const ref = this.refOfKey(bullJobKeyOf(parent.queueKey, parent.id));
    return ref === null ? origin : { ...origin, flowParent: ref };
  }

  private remember(bullId: string, tracked: TrackedJob | null): void {
    if (this.cache.size >= CACHE_LIMIT) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(bullId, tracked);
  }
}
