/** The describe function the publisher tests use (shared with their child processes). */
import type { DescribeFn } from '../../src/publisher/options.js';

/** Describes plain jobs whose data carries `userId` and `title`. */
export const describeByData: DescribeFn = (job) => {
  const data = job.data as { userId?: string; title?: string };
  return data.userId ? { userId: data.userId, jobType: job.name, title: data.title ?? job.name } : null;
};
