/**
 * Quick start: one process runs a worker, the publisher and the bridge, starts a job for user
 * "alice" and watches it live over SSE with the client until it completes.
 * Run: REDIS_URL=redis://127.0.0.1:6379 npm run example examples/quickstart.ts
 */
import type { AddressInfo } from 'node:net';
import { Worker } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import { Seenn } from 'seenn-bullmq';
import { SeennClient } from 'seenn-bullmq/client';

const connection = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const seenn = new Seenn({ connection, tokenSecret: 'a-secret-of-at-least-32-bytes-long!!' });

// Worker: any BullMQ processor, wrapped. The job gains setProgress.
const worker = new Worker(
  'video',
  seenn.processor(async (job) => {
    const stages = ['analysis', 'generation', 'rendering'];
    for (const [i, name] of stages.entries()) {
      await job.setProgress(Math.round((i / stages.length) * 100), {
        message: `${name}…`,
        stage: { name, current: i + 1, total: stages.length },
      });
      await new Promise((resolve) => setTimeout(resolve, 100)); // the real work
    }
    return { url: `https://cdn.example.com/${job.id}.mp4` };
  }),
  { connection },
);

// Publisher: turns BullMQ events into per-user Seenn state.
const publisher = seenn.publisher({ queues: ['video'] });
await publisher.start();

// Bridge: SSE + REST under /v1.
const app = express();
app.use('/v1', seenn.bridge());
const server = app.listen(0);
const { port } = server.address() as AddressInfo;

// Producer: start a job for a user and give that user a token.
const job = await seenn.jobs.start({ queue: 'video', userId: 'alice', jobType: 'video', title: 'My first video' });
const token = await seenn.tokens.issue({ userId: 'alice', ttlSeconds: 600 });

// Client (browser or Node): watch the job live.
const client = new SeennClient({ baseUrl: `http://127.0.0.1:${port}/v1`, token });
const done = new Promise<void>((resolve) => {
  client.on('job', (update) => {
    if (update.id !== job.id) return;
    console.log(
      `${update.status.padEnd(9)} ${String(update.progress).padStart(3)}%  ${update.stage ? `${update.stage.current}/${update.stage.total} ` : ''}${update.message ?? ''}`,
    );
    if (update.status === 'completed') {
      console.log('result:', update.result);
      resolve();
    }
  });
});
client.connect();
await done;

client.close();
await worker.close();
server.close();
await seenn.close();
await connection.quit();
