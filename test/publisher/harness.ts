/**
 * A Seenn + publisher over a fresh BullMQ prefix, with plain BullMQ jobs described by their data
 * (`{ userId, title }`), and the reads the publisher tests need.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Seenn } from '../../src/index.js';
import type { Logger } from '../../src/logger.js';
import type { SeennJob } from '../../src/model/job.js';
import type { Publisher } from '../../src/publisher/index.js';
import type { DescribeFn } from '../../src/publisher/options.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { describeByData } from './harness-describe.js';

export { describeByData };

/** One replay entry, parsed. */
export interface ParsedEntry {
  id: string;
  event: string;
  job: SeennJob;
}

/** A test bed: a prefix, a connection, a Seenn, a started publisher, and queues. */
export class Bed {
  readonly prefix: string;
  readonly redis: Redis = connect();
  readonly seenn: Seenn;
  readonly publisher: Publisher;
  private readonly queues: Queue[] = [];

  /**
   * @param queues - the queues the publisher reads
   * @param options - `describe` (default {@link describeByData}; `null` for none), the prefix's label, a logger
   */
  constructor(queues: string[], options: { describe?: DescribeFn | null; label?: string; logger?: Logger } = {}) {
    this.prefix = uniquePrefix(options.label ?? 'pub');
    this.seenn = new Seenn(
      options.logger === undefined
        ? { connection: this.redis, prefix: this.prefix }
        : { connection: this.redis, prefix: this.prefix, logger: options.logger },
    );
    const describe = options.describe === undefined ? describeByData : options.describe;
    const publisherOptions = { queues, blockMs: 100, leaseMs: 2_000 };
    this.publisher = this.seenn.publisher(describe === null ? publisherOptions : { ...publisherOptions, describe });
  }

  async start(): Promise<this> {
    await this.publisher.start();
    return this;
  }

  queue(name: string): Queue {
    const queue = new Queue(name, { connection: this.redis, prefix: this.prefix });
    this.queues.push(queue);
    return queue;
  }

  /** The replay entries of a user's stream, oldest first. */
  async entries(userId: string): Promise<ParsedEntry[]> {
    const raw = await this.seenn.context.store.readStream(userId, '0-0', 10_000);
    return raw.map((entry) => ({ id: entry.id, event: entry.event, job: JSON.parse(entry.data) as SeennJob }));
  }

  /** The replay entries of one job. */
  async entriesOf(userId: string, jobId: string): Promise<ParsedEntry[]> {
    return (await this.entries(userId)).filter((entry) => entry.job.id === jobId);
  }

  /** Waits until the job's snapshot satisfies `predicate`, and returns it. */
  async waitForJob(
    jobId: string,
    predicate: (job: SeennJob) => boolean,
    what = 'job state',
    timeoutMs = 15_000,
  ): Promise<SeennJob> {
    return waitFor(
      async () => {
        const job = await this.seenn.jobs.get(jobId);
        return job !== null && predicate(job) ? job : null;
      },
      { what: `${what} of ${jobId}`, timeoutMs },
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.queues.map((queue) => queue.close()));
    await this.seenn.close();
    await deletePrefix(this.redis, this.prefix);
    await this.redis.quit();
  }
}
