/**
 * Job output across a SIGKILL of the bridge: ten users each read their job's output with
 * `client.output` through a stand-in load balancer; the bridge process they stream from is killed
 * with SIGKILL mid-output and they reconnect to a second one. Each ends with every chunk of its job
 * exactly once, in order, and nothing of another user's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeennClient, type OutputChunkEvent } from '../../src/client/index.js';
import { Seenn } from '../../src/seenn.js';
import { connect, deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { spawnBridgePair, type BridgePair } from '../helpers/bridge-pair.js';
import { waitFor } from '../helpers/wait.js';
import { SECRET } from './helpers.js';

const USERS = 10;
const CHUNKS = 100;
const KILL_AFTER = 40;

const prefix = uniquePrefix('outfo');
const redis = connect();
const seenn = new Seenn({ connection: redis, prefix, tokenSecret: SECRET });
let bridges: BridgePair;

beforeAll(async () => {
  const options = { heartbeatMs: 500, retryMs: 50, retryJitterMs: 100 };
  bridges = await spawnBridgePair(redisUrl(), prefix, SECRET, options);
});

afterAll(async () => {
  await bridges?.close();
  await seenn.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('job output across a bridge SIGKILL', () => {
  it('gives every client every chunk of its job exactly once, in order', async () => {
    const users = Array.from({ length: USERS }, (_, i) => `ofo-user-${i}`);
    const jobs = await Promise.all(
      users.map((userId) => seenn.jobs.start({ userId, jobType: 'story', title: `Story of ${userId}` })),
    );
    const clients = users.map(
      (userId) =>
        new SeennClient({
          baseUrl: `http://127.0.0.1:${bridges.first.port}/v1`,
          token: () => seenn.tokens.issue({ userId, ttlSeconds: 300 }),
          fetch: bridges.fetch,
          reconnectBaseMs: 20,
          reconnectMaxMs: 200,
        }),
    );
    const received = jobs.map(() => [] as OutputChunkEvent[]);
    const readers = jobs.map(async (job, i) => {
      for await (const chunk of (clients[i] as SeennClient).output(job.id))
        (received[i] as OutputChunkEvent[]).push(chunk);
    });
    try {
      for (let n = 0; n < CHUNKS; n += 1) {
        await Promise.all(jobs.map((job, i) => job.appendOutput(`u${i}-c${n}`)));
        if (n === KILL_AFTER) {
          await waitFor(() => received.every((chunks) => chunks.length >= KILL_AFTER / 2), {
            what: 'live output before the kill',
            timeoutMs: 20_000,
          });
          await bridges.failOver();
        }
      }
      await Promise.all(jobs.map((job) => job.complete()));
      await Promise.all(readers);
      for (const [i, chunks] of received.entries()) {
        expect(chunks.map((chunk) => chunk.seq)).toEqual(Array.from({ length: CHUNKS }, (_, n) => n));
        expect(chunks.map((chunk) => chunk.chunk)).toEqual(Array.from({ length: CHUNKS }, (_, n) => `u${i}-c${n}`));
        expect(chunks.every((chunk) => chunk.jobId === jobs[i]?.id)).toBe(true);
      }
    } finally {
      for (const client of clients) client.close();
    }
  }, 60_000);
});
