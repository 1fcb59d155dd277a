/**
 * A batch: one parent and five children processed in parallel. The parent has no processor of its
 * own; its progress and counters follow from its children, and it completes by itself.
 * Run: REDIS_URL=redis://127.0.0.1:6379 npm run example examples/batch.ts
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Seenn } from 'seenn-bullmq';

const connection = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const seenn = new Seenn({ connection });

const worker = new Worker(
  'images',
  seenn.processor(async (job) => {
    for (const progress of [25, 50, 75]) {
      await job.setProgress(progress, { message: `painting ${job.data.prompt}` });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return { url: `https://cdn.example.com/${job.id}.png` };
  }),
  { connection, concurrency: 5 },
);
const publisher = seenn.publisher({ queues: ['images'] });
await publisher.start();

const { parent } = await seenn.jobs.createBatch({
  queue: 'images',
  userId: 'bob',
  jobType: 'image',
  parentTitle: 'Five images',
  children: ['a cat', 'a dog', 'a fox', 'an owl', 'a bee'].map((prompt) => ({
    title: `Image of ${prompt}`,
    data: { prompt },
  })),
  childProgressMode: 'average',
});

// Poll the read API until the parent completes (a UI would use the bridge's SSE instead).
for (;;) {
  const family = await seenn.jobs.getWithChildren(parent.id);
  if (family === null) throw new Error('the batch vanished');
  const { children, progress, status } = family.parent;
  console.log(
    `${status.padEnd(9)} ${String(progress).padStart(3)}%  completed ${children?.completed}/${children?.total}  [${family.children.map((child) => child.progress).join(' ')}]`,
  );
  if (status === 'completed' || status === 'failed') break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}

await worker.close();
await seenn.close();
await connection.quit();
