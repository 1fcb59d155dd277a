/**
 * Tracking jobs you already add with plain `queue.add`: the publisher's `describe(job)` names the
 * user who sees each job (return null to keep a job invisible). Their Seenn id is derived from the
 * queue name and the BullMQ id (`derivedJobId`).
 * Run: REDIS_URL=redis://127.0.0.1:6379 npm run example examples/plain-queue.ts
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Seenn, derivedJobId } from 'seenn-bullmq';

const connection = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const seenn = new Seenn({ connection });

const publisher = seenn.publisher({
  queues: ['reports'],
  describe: (job) =>
    job.data.accountId
      ? { userId: job.data.accountId, jobType: job.name, title: `Report for ${job.data.month}` }
      : null,
});
await publisher.start();

// Existing code, unchanged: a plain queue and a plain worker calling updateProgress with numbers.
const queue = new Queue('reports', { connection });
const worker = new Worker(
  'reports',
  async (job) => {
    for (const progress of [30, 60, 90]) await job.updateProgress(progress);
    return { rows: 1234 };
  },
  { connection },
);
const bullJob = await queue.add('monthly-report', { accountId: 'carol', month: '2026-10' });
const id = derivedJobId('reports', bullJob.id as string);

for (;;) {
  const job = await seenn.jobs.get(id);
  console.log(job ? `${job.status} ${job.progress}%` : 'not published yet');
  if (job?.status === 'completed') {
    console.log('result:', job.result);
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
}

await worker.close();
await queue.close();
await seenn.close();
await connection.quit();
