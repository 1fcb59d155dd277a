/**
 * The demo's BullMQ workers, wrapped with `seenn.processor`: a "video" job in three stages
 * (1 analysis → 2 generation → 3 rendering) with messages and an ETA, "image" jobs for batches, and a
 * "story" job that writes a short story word by word with `job.appendOutput` (a stand-in for an AI
 * model streaming tokens). Durations come from options so tests can run them fast.
 */
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Seenn } from '../../src/index.js';

/** Queue names the demo uses. */
export const DEMO_QUEUES = Object.freeze({ video: 'demo-video', image: 'demo-image', story: 'demo-story' });

/** The story the story job writes, one word (with its following space) per chunk. */
export const DEMO_STORY =
  'Once upon a time a small queue lived on a busy server. Every night it carried thousands of jobs, and every morning the people who had asked for them wondered where they were. ' +
  'One day the queue learned to speak: it told each person where their job stood, what it was doing, and how long it would take. Nobody ever wondered again. The end.';

/** The story's chunks: each word with the space after it. */
export function storyChunks(): string[] {
  return DEMO_STORY.split(' ').map((word, index, words) => (index < words.length - 1 ? `${word} ` : word));
}

/** How long the fake work takes. */
export interface DemoTimings {
  /** Each of the video job's three stages. */
  stageMs: number;
  /** One image of a batch. */
  imageMs: number;
  /** Each word of the story. */
  wordMs: number;
}

const STAGES = [
  { name: 'analysis', messages: ['Reading the prompt', 'Planning the shots', 'Picking a style'] },
  { name: 'generation', messages: ['Generating keyframes', 'Generating in-between frames', 'Adding motion'] },
  { name: 'rendering', messages: ['Rendering frames', 'Encoding to MP4', 'Uploading'] },
] as const;

/** Progress updates per stage (and per image). */
const TICKS = 3;

/** Waits `ms`, or rejects as soon as `signal` aborts (a demo shutting down cancels its jobs). */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new Error('cancelled'));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new Error('cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Starts the video worker (one job at a time, so a second job shows its queue position) and the image worker. */
export function startDemoWorkers(seenn: Seenn, connection: Redis, prefix: string, timings: DemoTimings): Worker[] {
  const tickMs = Math.max(1, Math.round(timings.stageMs / TICKS));
  const video = new Worker(
    DEMO_QUEUES.video,
    seenn.processor(async (job, _token, signal) => {
      const totalTicks = STAGES.length * TICKS;
      for (const [index, stage] of STAGES.entries()) {
        for (let tick = 0; tick < TICKS; tick += 1) {
          const done = index * TICKS + tick;
          await job.setProgress((done / totalTicks) * 100, {
            message: stage.messages[tick] ?? stage.name,
            stage: { name: stage.name, current: index + 1, total: STAGES.length },
            estimatedCompletionAt: new Date(Date.now() + (totalTicks - done) * tickMs),
          });
          await pause(tickMs, signal);
        }
      }
      return { type: 'video', url: `https://example.com/videos/${job.id ?? 'video'}.mp4` };
    }),
    { connection, prefix, concurrency: 1 },
  );
  const imageTickMs = Math.max(1, Math.round(timings.imageMs / TICKS));
  const image = new Worker(
    DEMO_QUEUES.image,
    seenn.processor(async (job, _token, signal) => {
      for (let tick = 0; tick < TICKS; tick += 1) {
        await job.setProgress((tick / TICKS) * 100, {
          message: tick === 0 ? 'Sketching' : 'Painting',
          estimatedCompletionAt: new Date(Date.now() + (TICKS - tick) * imageTickMs),
        });
        await pause(imageTickMs, signal);
      }
      return { type: 'image', url: `https://example.com/images/${job.id ?? 'image'}.png` };
    }),
    { connection, prefix, concurrency: 2 },
  );
  const story = new Worker(
    DEMO_QUEUES.story,
    seenn.processor(async (job, _token, signal) => {
      const words = storyChunks();
      for (const [index, word] of words.entries()) {
        await job.appendOutput(word);
        if (index % 5 === 0) await job.setProgress((index / words.length) * 100, { message: 'Writing…' });
        await pause(timings.wordMs, signal);
      }
      return { type: 'story', words: words.length };
    }),
    { connection, prefix, concurrency: 5 },
  );
  return [video, image, story];
}
