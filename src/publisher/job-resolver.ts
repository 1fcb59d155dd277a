/**
 * Finds out whether a BullMQ job is tracked, and as whom. Jobs started with `seenn.jobs.start` carry
 * their descriptor in `job.data.__seenn`; other jobs are offered to the app's `describe(job)`.
 * Answers are cached per publisher (bounded), so a job's hash is read at most once in the common case.
 */
import { Job } from 'bullmq';
import type { SeennContext } from '../context.js';
import { DESCRIPTOR_KEY, DescriptorSchema, StoredDescriptorSchema, type Descriptor } from '../model/descriptor.js';
import { derivedJobId } from '../model/ids.js';
import type { DescribeFn } from './options.js';

/** Who sees a tracked job, and under which Seenn id. */
export interface TrackedJob {
  seennId: string;
  userId: string;
}

/** What creating a job's first snapshot needs: its descriptor and BullMQ job. */
export interface JobOrigin {
  descriptor: Descriptor;
  job: Job;
}

const ULID_SHAPE = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const CACHE_LIMIT = 20_000;

/** Resolves BullMQ job ids of one queue to tracked Seenn jobs. */
export class JobResolver {
  private readonly cache = new Map<string, TrackedJob | null>();

  /**
   * @param ctx - the Seenn context
   * @param queueName - the queue whose jobs this resolves
   * @param describe - the app's describe function, if any
   * @param onDescribeError - told when `describe` throws or returns an invalid descriptor
   */
  constructor(
    private readonly ctx: SeennContext,
    private readonly queueName: string,
    private readonly describe: DescribeFn | null,
    private readonly onDescribeError: (error: unknown, bullId: string) => void,
  ) {}

  /** The tracked identity of a BullMQ job, or `null` when the job is invisible (or gone and unknown). */
  async resolve(bullId: string): Promise<TrackedJob | null> {
    const cached = this.cache.get(bullId);
    if (cached !== undefined) return cached;
    const known = await this.knownOwner(bullId);
    const tracked = known ?? (await this.originOf(bullId))?.tracked ?? null;
    this.remember(bullId, tracked);
    return tracked;
  }

  /**
   * Reads the job from BullMQ and describes it: what creating its first snapshot needs. `null` when
   * the job is gone from BullMQ or nobody can see it.
   */
  async origin(bullId: string): Promise<JobOrigin | null> {
    return (await this.originOf(bullId))?.origin ?? null;
  }

  /** Forgets a job (after it has finished, so the cache holds live jobs). */
  forget(bullId: string): void {
    this.cache.delete(bullId);
  }

  private async knownOwner(bullId: string): Promise<TrackedJob | null> {
    const candidates = [derivedJobId(this.queueName, bullId)];
    if (ULID_SHAPE.test(bullId)) candidates.unshift(bullId);
    const owners = await this.ctx.redis.mget(...candidates.map((id) => this.ctx.keys.owner(id)));
    for (const [i, userId] of owners.entries()) {
      if (userId !== null) return { seennId: candidates[i] as string, userId };
    }
    return null;
  }

  private async originOf(bullId: string): Promise<{ tracked: TrackedJob; origin: JobOrigin } | null> {
    const job = await Job.fromId(this.ctx.queue(this.queueName), bullId);
    if (job === undefined) return null;
    const data: unknown = job.data;
    if (typeof data === 'object' && data !== null && DESCRIPTOR_KEY in data) {
      const stored = StoredDescriptorSchema.safeParse((data as Record<string, unknown>)[DESCRIPTOR_KEY]);
      if (stored.success) {
        const { id, ...descriptor } = stored.data;
        await this.ctx.store.setOwner(id, descriptor.userId);
        return { tracked: { seennId: id, userId: descriptor.userId }, origin: { descriptor, job } };
      }
      this.onDescribeError(stored.error, bullId);
      return null;
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
    const seennId = derivedJobId(this.queueName, bullId);
    await this.ctx.store.setOwner(seennId, parsed.data.userId);
    return { tracked: { seennId, userId: parsed.data.userId }, origin: { descriptor: parsed.data, job } };
  }

  private remember(bullId: string, tracked: TrackedJob | null): void {
    if (this.cache.size >= CACHE_LIMIT) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(bullId, tracked);
  }
}
