/**
 * The admin route's auth (shared token, Basic for browsers, the app's hook) and its Seenn JSON view
 * over real BullMQ jobs started with `seenn.jobs.start`, run by a wrapped worker and published.
 */
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueStatus } from '../../src/admin/index.js';
import type { SeennJob } from '../../src/model/job.js';
import type { Publisher } from '../../src/publisher/index.js';
import { connect } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN_TOKEN, call, envelope, startBed, type AdminBed } from './harness.js';
import { PUBLISHER_DEFAULTS } from '../../src/publisher/options.js';

const QUEUE = 'render';
const IDLE = 'idle';
let bed: AdminBed;
let base: string;
let publisher: Publisher;
let worker: Worker;
let workerConnection: Redis;
const queues: Queue[] = [];
/** Requests the hook saw, to prove it is handed Express's request. */
const hookSaw: { baseUrl: string; hasGet: boolean }[] = [];

function bullQueue(name: string): Queue {
  const queue = new Queue(name, { connection: bed.redis, prefix: bed.prefix, skipMetasUpdate: true });
  queues.push(queue);
  return queue;
}

async function seennJob(id: string, predicate: (job: SeennJob) => boolean): Promise<SeennJob> {
  return waitFor(
    async () => {
      const job = await bed.seenn.jobs.get(id);
      return job !== null && predicate(job) ? job : null;
    },
    { what: `Seenn job ${id}`, timeoutMs: 15_000 },
  );
}

beforeAll(async () => {
  bed = await startBed();
  bed.mount('/admin', { auth: { token: ADMIN_TOKEN }, queues: [QUEUE, IDLE] });
  bed.mount('/hooked', {
    auth: {
      authenticate: (req) => {
        hookSaw.push({ baseUrl: req.baseUrl, hasGet: typeof req.get === 'function' });
        return req.get('x-ops-key') === 'let-me-in';
      },
    },
    queues: [QUEUE],
  });
  bed.mount('/truthy', { auth: { authenticate: () => 'yes' as unknown as boolean }, queues: [QUEUE] });
  bed.mount('/broken', {
    auth: {
      authenticate: () => {
        throw new Error('session store down');
      },
    },
    queues: [QUEUE],
  });
  base = `${bed.origin}/admin`;
  publisher = bed.seenn.publisher({ queues: [QUEUE], blockMs: 100, leaseMs: 2_000 });
  await publisher.start();
  workerConnection = connect();
  worker = new Worker(
    QUEUE,
    bed.seenn.processor<{ n?: number; fail?: boolean }>(async (job) => {
      if (job.data.fail === true) throw new Error('boom');
      await job.setProgress(50, { message: 'half way' });
      return { n: job.data.n ?? 0 };
    }),
    { connection: workerConnection, prefix: bed.prefix },
  );
  worker.on('error', () => undefined);
});

afterAll(async () => {
  await worker.close();
  await workerConnection.quit();
  await Promise.all(queues.map((queue) => queue.close()));
  await bed.close();
});

describe('admin auth', () => {
  it('answers 401 with the envelope and Basic/Bearer challenges without a token or with a wrong one', async () => {
    const wrongLastChar = `${ADMIN_TOKEN.slice(0, -1)}${ADMIN_TOKEN.endsWith('x') ? 'y' : 'x'}`;
    const cases: Record<string, Record<string, string>> = {
      missing: {},
      'wrong token': { authorization: `Bearer ${'w'.repeat(ADMIN_TOKEN.length)}` },
      'one character off': { authorization: `Bearer ${wrongLastChar}` },
      'a prefix of the token': { authorization: `Bearer ${ADMIN_TOKEN.slice(0, 32)}` },
      'empty bearer': { authorization: 'Bearer ' },
      'other scheme': { authorization: `Token ${ADMIN_TOKEN}` },
      'wrong basic password': { authorization: `Basic ${Buffer.from(`ops:${wrongLastChar}`).toString('base64')}` },
    };
    for (const [name, headers] of Object.entries(cases)) {
      for (const path of ['/api/queues', '/api/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV', '/no/such/path']) {
        const answer = await call(`${base}${path}`, { headers });
        expect(answer.status, `${name} ${path}`).toBe(401);
        expect(envelope(answer)?.code, name).toBe('UNAUTHORIZED');
        expect(answer.headers.get('www-authenticate')).toContain('Basic realm="seenn-admin"');
        expect(answer.headers.get('www-authenticate')).toContain('Bearer realm="seenn-admin"');
      }
    }
  });

  it('lets the right token through as a Bearer token or as the Basic password (any user name)', async () => {
    expect((await call(`${base}/api/queues`, { token: ADMIN_TOKEN })).status).toBe(200);
    const basic = await call(`${base}/api/queues`, {
      headers: { authorization: `Basic ${Buffer.from(`anyone:${ADMIN_TOKEN}`).toString('base64')}` },
    });
    expect(basic.status).toBe(200);
    // Past the auth check, an unknown path is a coded 404.
    const unknown = await call(`${base}/no/such/path`, { token: ADMIN_TOKEN });
    expect(unknown.status).toBe(404);
    expect(envelope(unknown)?.code).toBe('NOT_FOUND');
  });

  it('with an authenticate hook: true passes, anything else is 401 without a challenge; the hook gets the Express request', async () => {
    const url = `${bed.origin}/hooked/api/queues`;
    const refused = await call(url);
    expect(refused.status).toBe(401);
    expect(envelope(refused)?.code).toBe('UNAUTHORIZED');
    expect(refused.headers.get('www-authenticate')).toBeNull();
    expect((await call(url, { headers: { 'x-ops-key': 'wrong' } })).status).toBe(401);
    // The shared token means nothing to a hook-authenticated route.
    expect((await call(url, { token: ADMIN_TOKEN })).status).toBe(401);
    const allowed = await call(url, { headers: { 'x-ops-key': 'let-me-in' } });
    expect(allowed.status).toBe(200);
    expect((allowed.body['queues'] as QueueStatus[]).map((queue) => queue.name)).toEqual([QUEUE]);
    expect(hookSaw.at(-1)).toEqual({ baseUrl: '/hooked', hasGet: true });
    // Truthy is not true.
    expect((await call(`${bed.origin}/truthy/api/queues`)).status).toBe(401);
  });

  it('answers a throwing hook with a 500 that reveals nothing, and logs no credentials', async () => {
    const secretHeader = 'Bearer super-secret-bearer-value-0123456789';
    const answer = await call(`${bed.origin}/broken/api/queues`, { headers: { authorization: secretHeader } });
    expect(answer.status).toBe(500);
    expect(envelope(answer)?.code).toBe('INTERNAL_ERROR');
    expect(answer.text).not.toContain('session store down');
    const logged = bed.logLines.filter((line) => line.includes('admin: request failed'));
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.at(-1)).toContain('/broken/api/queues');
    for (const line of bed.logLines) {
      expect(line).not.toContain('super-secret-bearer-value');
      expect(line).not.toContain(ADMIN_TOKEN);
    }
  });
});

describe('admin JSON view', () => {
  let done: SeennJob;
  let failed: SeennJob;
  let delayed: SeennJob;
  let removed: SeennJob;

  beforeAll(async () => {
    const start = (title: string, data: Record<string, unknown>, opts: Record<string, unknown> = {}) =>
      bed.seenn.jobs.start({ queue: QUEUE, userId: 'alice', jobType: 'render', title, data, opts });
    done = await start('Done', { n: 1 });
    failed = await start('Failed', { fail: true }, { attempts: 1 });
    delayed = await start('Delayed', { n: 3 }, { delay: 10 * 60_000 });
    removed = await start('Removed', { n: 4 }, { removeOnComplete: true });
    await seennJob(done.id, (job) => job.status === 'completed');
    await seennJob(failed.id, (job) => job.status === 'failed');
    await seennJob(removed.id, (job) => job.status === 'completed');
  });

  it('GET /api/queues: BullMQ counts and paused flag, and the publisher holding the lease, caught up', async () => {
    const caughtUp = await waitFor(
      async () => {
        const answer = await call(`${base}/api/queues`, { token: ADMIN_TOKEN });
        const [render] = answer.body['queues'] as QueueStatus[];
        return render !== undefined && render.publisher.checkpointId !== null && render.publisher.lag.entries === 0
          ? answer
          : null;
      },
      { what: 'the publisher to catch up', timeoutMs: 15_000 },
    );
    expect(caughtUp.status).toBe(200);
    expect(caughtUp.headers.get('cache-control')).toBe('no-store');
    const [render, idle] = caughtUp.body['queues'] as [QueueStatus, QueueStatus];
    expect(render.name).toBe(QUEUE);
    expect(render.paused).toBe(false);
    expect(render.counts).toEqual(await bullQueue(QUEUE).getJobCounts());
    expect(render.counts).toMatchObject({ completed: 1, failed: 1, delayed: 1, active: 0, waiting: 0 });
    const stream = `${bed.prefix}:${QUEUE}:events`;
    const [[newestId]] = (await bed.redis.xrevrange(stream, '+', '-', 'COUNT', 1)) as [[string, string[]]];
    expect(render.publisher).toMatchObject({
      leaseHeld: true,
      partitions: { total: PUBLISHER_DEFAULTS.partitions, held: PUBLISHER_DEFAULTS.partitions },
      checkpointId: newestId,
      newestEventId: newestId,
      lag: { ms: 0, entries: 0, entriesCapped: false, trimmed: false },
    });
    expect(render.publisher.checkpointId).toBe(await bed.redis.get(bed.seenn.context.keys.checkpoint(QUEUE)));
    expect(render.publisher.leaseExpiresInMs).toBeGreaterThan(0);
    expect(render.publisher.leaseExpiresInMs).toBeLessThanOrEqual(2_000);
    // A queue nobody publishes or uses.
    expect(idle).toEqual({
      name: IDLE,
      paused: false,
      counts: { active: 0, completed: 0, delayed: 0, failed: 0, prioritized: 0, waiting: 0, 'waiting-children': 0 },
      publisher: {
        leaseHeld: false,
        leaseHolder: null,
        leaseExpiresInMs: null,
        partitions: { total: PUBLISHER_DEFAULTS.partitions, held: 0 },
        checkpointId: null,
        newestEventId: null,
        lag: { ms: 0, entries: 0, entriesCapped: false, trimmed: false },
      },
    });
  });

  it('GET /api/queues/:name: one queue (paused, never read: every event counts as unread); other names are 404', async () => {
    await bullQueue(IDLE).pause();
    const answer = await call(`${base}/api/queues/${IDLE}`, { token: ADMIN_TOKEN });
    expect(answer.status).toBe(200);
    const idle = answer.body as unknown as QueueStatus;
    expect(idle.paused).toBe(true);
    const events = await bed.redis.xrange(`${bed.prefix}:${IDLE}:events`, '-', '+');
    expect(events.length).toBeGreaterThan(0);
    expect(idle.publisher).toMatchObject({
      leaseHeld: false,
      checkpointId: null,
      newestEventId: events.at(-1)?.[0],
      lag: { entries: events.length, entriesCapped: false, trimmed: false },
    });
    for (const name of ['nope', 'render2', encodeURIComponent('a:b')]) {
      const unknown = await call(`${base}/api/queues/${name}`, { token: ADMIN_TOKEN });
      expect(unknown.status, name).toBe(404);
      expect(envelope(unknown)?.code).toBe('NOT_FOUND');
    }
  });

  it('GET /api/jobs/:id: the Seenn job beside what BullMQ holds for it', async () => {
    const answer = await call(`${base}/api/jobs/${done.id}`, { token: ADMIN_TOKEN });
    expect(answer.status).toBe(200);
    expect(answer.body['seenn']).toEqual(await bed.seenn.jobs.get(done.id));
    expect(answer.body['seenn']).toMatchObject({ status: 'completed', result: { n: 1 } });
    const bull = await bullQueue(QUEUE).getJob(done.id);
    expect(answer.body['bullmq']).toEqual({
      queue: QUEUE,
      id: done.id,
      state: 'completed',
      attemptsMade: 1,
      progress: bull?.progress,
      timestamp: bull?.timestamp,
      processedOn: bull?.processedOn,
      finishedOn: bull?.finishedOn,
    });
    expect(answer.body['bullmq']).toMatchObject({ progress: { seenn: 1, message: 'half way' } });
  });

  it('GET /api/jobs/:id: a failed job carries failedReason; a delayed one has not run; a removed one has no BullMQ side', async () => {
    const failedView = (await call(`${base}/api/jobs/${failed.id}`, { token: ADMIN_TOKEN })).body;
    expect(failedView['seenn']).toMatchObject({ id: failed.id, status: 'failed' });
    expect(failedView['bullmq']).toMatchObject({
      queue: QUEUE,
      id: failed.id,
      state: 'failed',
      attemptsMade: 1,
      failedReason: 'boom',
    });

    const delayedView = (await call(`${base}/api/jobs/${delayed.id}`, { token: ADMIN_TOKEN })).body;
    expect(delayedView['seenn']).toMatchObject({ id: delayed.id, status: 'pending' });
    const bullDelayed = delayedView['bullmq'] as Record<string, unknown>;
    expect(bullDelayed).toMatchObject({ state: 'delayed', attemptsMade: 0 });
    expect(Object.keys(bullDelayed).sort()).toEqual(['attemptsMade', 'id', 'progress', 'queue', 'state', 'timestamp']);

    const removedView = (await call(`${base}/api/jobs/${removed.id}`, { token: ADMIN_TOKEN })).body;
    expect(removedView['seenn']).toMatchObject({ id: removed.id, status: 'completed' });
    expect(removedView['bullmq']).toBeNull();
  });

  it('GET /api/jobs/:id: unknown or malformed ids answer the 404 envelope', async () => {
    for (const id of ['01ARZ3NDEKTSV4RRFFQ69G5FAV', encodeURIComponent('not a job!'), 'x'.repeat(600)]) {
      const answer = await call(`${base}/api/jobs/${id}`, { token: ADMIN_TOKEN });
      expect(answer.status, id).toBe(404);
      expect(envelope(answer)?.code).toBe('NOT_FOUND');
    }
  });

  it('GET /api/users/:userId/jobs pages seenn.jobs.list newest first', async () => {
    const first = await call(`${base}/api/users/alice/jobs?limit=3`, { token: ADMIN_TOKEN });
    expect(first.status).toBe(200);
    expect(first.body).toEqual(JSON.parse(JSON.stringify(await bed.seenn.jobs.list('alice', { limit: 3 }))));
    const cursor = first.body['nextCursor'] as string;
    expect(typeof cursor).toBe('string');
    const second = await call(`${base}/api/users/alice/jobs?limit=3&cursor=${encodeURIComponent(cursor)}`, {
      token: ADMIN_TOKEN,
    });
    expect(second.body['nextCursor']).toBeUndefined();
    const ids = [...(first.body['jobs'] as SeennJob[]), ...(second.body['jobs'] as SeennJob[])].map((job) => job.id);
    expect(ids).toEqual([removed.id, delayed.id, failed.id, done.id]);
    const all = await call(`${base}/api/users/alice/jobs`, { token: ADMIN_TOKEN });
    expect((all.body['jobs'] as SeennJob[]).map((job) => job.id)).toEqual(ids);
    expect((await call(`${base}/api/users/nobody/jobs`, { token: ADMIN_TOKEN })).body).toEqual({ jobs: [] });
  });

  it('GET /api/users/:userId/jobs: bad limit, cursor or user id answer 400 VALIDATION_ERROR', async () => {
    const bad = [
      '/api/users/alice/jobs?limit=abc',
      '/api/users/alice/jobs?limit=0',
      '/api/users/alice/jobs?limit=101',
      '/api/users/alice/jobs?limit=-1',
      '/api/users/alice/jobs?cursor=not-a-cursor',
      `/api/users/${'u'.repeat(300)}/jobs`,
      `/api/users/${encodeURIComponent('a\tb')}/jobs`,
    ];
    for (const path of bad) {
      const answer = await call(`${base}${path}`, { token: ADMIN_TOKEN });
      expect(answer.status, path).toBe(400);
      expect(envelope(answer)?.code, path).toBe('VALIDATION_ERROR');
    }
  });
});
