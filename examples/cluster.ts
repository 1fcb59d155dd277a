/**
 * Redis Cluster: three queues, each with its own hash tag (`{video}`, `{images}`, `{exports}`), so
 * BullMQ and Seenn keep each queue's keys in that queue's slot and the queues spread over the
 * masters; each user's jobs and replay stream live in that user's slot. Workers, the publisher and
 * the reads all share one ioredis `Cluster`.
 * Run: REDIS_CLUSTER_NODES=127.0.0.1:7000,127.0.0.1:7001 npm run example examples/cluster.ts
 */
import { Worker } from 'bullmq';
import { Cluster } from 'ioredis';
import { Seenn } from 'seenn-bullmq';

const nodes = (process.env.REDIS_CLUSTER_NODES ?? '127.0.0.1:7000').split(',').map((node) => {
  const [host, port] = node.split(':');
  return { host: host ?? '127.0.0.1', port: Number(port) };
});
const connection = new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: null } });
// Or let Seenn open (and close) its own: new Seenn({ connection: { cluster: { nodes } } }).
const seenn = new Seenn({ connection });

// One hash tag per queue: each queue lives on one master, different queues on different ones.
const queues = ['{video}', '{images}', '{exports}'];
const workers = queues.map(
  (queue) =>
    new Worker(
      queue,
      seenn.processor(async (job) => {
        await job.setProgress(50, { message: `working in ${queue}` });
        return { done: queue };
      }),
      { connection },
    ),
);
const publisher = seenn.publisher({ queues });
await publisher.start();

// A job on each queue for one user, and a batch whose children all share their parent's queue
// (a flow's queues must share one hash tag).
const jobs = await Promise.all(
  queues.map((queue) => seenn.jobs.start({ queue, userId: 'carol', jobType: 'demo', title: `A job on ${queue}` })),
);
const { parent } = await seenn.jobs.createBatch({
  queue: '{images}',
  userId: 'carol',
  jobType: 'thumbs',
  parentTitle: 'Thumbnails',
  childTitles: ['small', 'medium', 'large'],
});

for (const id of [...jobs.map((job) => job.id), parent.id]) {
  for (;;) {
    const job = await seenn.jobs.get(id);
    if (job?.status === 'completed' || job?.status === 'failed') {
      console.log(`${job.title.padEnd(20)} ${job.status} ${job.progress}%`);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
const { jobs: listed } = await seenn.jobs.list('carol', { limit: 20 });
console.log(`carol has ${listed.length} jobs`);

await Promise.all(workers.map((worker) => worker.close()));
await seenn.close();
await connection.quit();
