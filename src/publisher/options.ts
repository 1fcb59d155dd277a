/**
 * Options of `seenn.publisher(...)`, their defaults in one place, and their validation.
 */
import type { Job } from 'bullmq';
import { z } from 'zod';
import type { DescriptorInput } from '../model/descriptor.js';
import { QueueNameSchema } from '../model/job.js';
import { parseOrThrow } from '../options.js';

/**
 * Names the user of a job added with plain `queue.add` (or a plain FlowProducer). Return `null` or
 * `undefined` to keep the job invisible. Jobs started with `seenn.jobs.start` never reach it.
 */
// BullMQ's own Job generics default to `any`; a describe function may read any data shape.
/* eslint-disable @typescript-eslint/no-explicit-any -- a block, so it still covers the type once it is wrapped */
export type DescribeFn = (
  job: Job<any, any, string>,
) => DescriptorInput | null | undefined | Promise<DescriptorInput | null | undefined>;
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Options of a {@link Publisher}. */
export interface PublisherOptions {
  /** The BullMQ queues whose events this publisher turns into Seenn state. */
  queues: string[];
  /** Describes plain BullMQ jobs; see {@link DescribeFn}. @defaultValue none (only `jobs.start` jobs are tracked) */
  describe?: DescribeFn;
  /** How long one blocking read of a queue's events stream waits. @defaultValue 2000 */
  blockMs?: number;
  /**
   * Most events read (and checkpointed) at once per queue (a job's events of one read cost one commit:
   * bigger reads fold more of them). Only a publisher that is behind reads this many.
   * @defaultValue 10000
   */
  batchSize?: number;
  /** Jobs of one batch applied in parallel (events of one job are always applied in order). @defaultValue 64 */
  concurrency?: number;
  /** How long a publisher's lease on a queue lasts without renewal; a standby takes over after it. @defaultValue 10000 */
  leaseMs?: number;
  /** How often a standby publisher tries to take a queue's lease. @defaultValue leaseMs / 3 */
  leaseRetryMs?: number;
  /** Pause before a loop retries after a Redis error. @defaultValue 1000 */
  errorBackoffMs?: number;
  /**
   * How long `close()` lets a read in flight finish (commit and checkpoint) and the leases be given
   * up before it drops the publisher's connections instead: a read cut short is not checkpointed and
   * is read again by the next holder, and leases not given up expire after `leaseMs`. @defaultValue 2000
   */
  closeGraceMs?: number;
  /**
   * How many partitions a queue's jobs are split into, so several publisher processes can share one
   * queue (each holds a fair share of the partitions). Fixed by the first publisher that reads the
   * queue; later publishers use the stored number whatever they ask for. @defaultValue 16
   */
  partitions?: number;
}

/** {@link PublisherOptions} with every default applied. */
export interface ResolvedPublisherOptions {
  queues: string[];
  describe: DescribeFn | null;
  blockMs: number;
  batchSize: number;
  concurrency: number;
  leaseMs: number;
  leaseRetryMs: number;
  errorBackoffMs: number;
  closeGraceMs: number;
  partitions: number;
}

/** The defaults of {@link PublisherOptions}. */
export const PUBLISHER_DEFAULTS = Object.freeze({
  blockMs: 2_000,
  // Measured in bench/sustained.ts and bench/overhead.ts (bench/README, 6b): against 2,000 and 16, a
  // publisher sharing the box with a busy worker keeps 30-60 % closer pace; catch-up is unchanged.
  batchSize: 10_000,
  concurrency: 64,
  leaseMs: 10_000,
  errorBackoffMs: 1_000,
  closeGraceMs: 2_000,
  partitions: 16,
});

const Schema = z
  .object({
    queues: z.array(QueueNameSchema).min(1),
    describe: z.function().optional(),
    blockMs: z.number().int().min(10).max(60_000).optional(),
    batchSize: z.number().int().min(1).max(100_000).optional(),
    concurrency: z.number().int().min(1).max(256).optional(),
    leaseMs: z.number().int().min(100).max(600_000).optional(),
    leaseRetryMs: z.number().int().min(10).optional(),
    errorBackoffMs: z.number().int().min(1).max(60_000).optional(),
    closeGraceMs: z.number().int().min(0).max(60_000).optional(),
    partitions: z.number().int().min(1).max(1_024).optional(),
  })
  .strict();

/** Validates {@link PublisherOptions} and applies defaults (throws `CONFIG_INVALID`). */
export function resolvePublisherOptions(options: PublisherOptions): ResolvedPublisherOptions {
  const parsed = parseOrThrow(Schema, options, 'publisher options');
  const leaseMs = parsed.leaseMs ?? PUBLISHER_DEFAULTS.leaseMs;
  return {
    queues: [...new Set(parsed.queues)],
    describe: options.describe ?? null,
    blockMs: parsed.blockMs ?? PUBLISHER_DEFAULTS.blockMs,
    batchSize: parsed.batchSize ?? PUBLISHER_DEFAULTS.batchSize,
    concurrency: parsed.concurrency ?? PUBLISHER_DEFAULTS.concurrency,
    leaseMs,
    leaseRetryMs: parsed.leaseRetryMs ?? Math.max(10, Math.floor(leaseMs / 3)),
    errorBackoffMs: parsed.errorBackoffMs ?? PUBLISHER_DEFAULTS.errorBackoffMs,
    closeGraceMs: parsed.closeGraceMs ?? PUBLISHER_DEFAULTS.closeGraceMs,
    partitions: parsed.partitions ?? PUBLISHER_DEFAULTS.partitions,
  };
}
