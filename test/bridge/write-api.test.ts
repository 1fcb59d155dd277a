/**
 * The REST write routes, driven the way the official `@seenn/node` SDK (v0.4.0) drives them:
 * `SeennNodeReplay` (./seenn-node.ts) repeats its HTTP calls byte for byte from reference/seenn-protocol.md §1.3
 * and §4 (headers `Authorization`, `Content-Type: application/json`, `User-Agent: @seenn/node` on
 * every call; `JSON.stringify` of the SDK's own body objects, so undefined fields vanish; `{}` for
 * `complete()` without options) and reads the responses as the SDK does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SeennJob } from '../../src/model/job.js';
import { waitFor } from '../helpers/wait.js';
import { SeennClient } from '../../src/client/index.js';
import { RecordingEventSource, getJson, startBridge, type TestBridge } from './helpers.js';
import { SeennNodeReplay, ok } from './seenn-node.js';

const API_KEY = 'sk_test_0123456789abcdefghijklmnop';

let bridge: TestBridge;
let sdk: SeennNodeReplay;
let aliceToken: string;
let bobToken: string;

beforeAll(async () => {
  bridge = await startBridge({ writeApi: { apiKeys: [API_KEY], maxBodyBytes: 64 * 1024 } });
  sdk = new SeennNodeReplay(bridge.baseUrl, API_KEY);
  aliceToken = await bridge.seenn.tokens.issue({ userId: 'alice', ttlSeconds: 600 });
  bobToken = await bridge.seenn.tokens.issue({ userId: 'bob', ttlSeconds: 600 });
});

afterAll(async () => {
  await bridge.close();
});

describe('@seenn/node against the write routes', () => {
  it('start → setProgress → complete, every field the SDK sends accepted, every answer the job object', async () => {
    const created = await sdk.start({
      jobType: 'video-render',
      userId: 'alice',
      title: 'Render intro',
      workflowId: 'render-v2',
      metadata: { resolution: '4k' },
      queue: { position: 3, total: 12, queueName: 'gpu' },
      stage: { name: 'queued', current: 1, total: 3 },
      estimatedDuration: 60_000,
      ttlSeconds: 3_600,
    });
    expect(created.status).toBe(201);
    const job = ok(created);
    expect(job).toMatchObject({
      jobType: 'video-render',
      userId: 'alice',
      title: 'Render intro',
      workflowId: 'render-v2',
      status: 'pending',
      progress: 0,
      queue: { position: 3, total: 12, queueName: 'gpu' },
      etaBasedOn: 0,
    });
    expect(job['id']).toBe(job['jobId']);
    expect(job['appId']).toBe('default');
    const id = String(job['id']);

    const progressed = ok(
      await sdk.setProgress(id, 50, {
        message: 'Rendering frames',
        stage: { name: 'render', current: 2, total: 3, description: 'Frames 1–500' },
        estimatedCompletionAt: '2030-01-01T00:00:00.000Z',
        metadata: { frames: 500 },
        push: { liveActivity: true, silent: true, alert: { title: 'Rendering', body: 'Half way' } },
      }),
    );
    expect(progressed).toMatchObject({
      status: 'running',
      progress: 50,
      message: 'Rendering frames',
      stage: { name: 'render', current: 2, total: 3, description: 'Frames 1–500' },
      metadata: { resolution: '4k', frames: 500 },
      queue: { position: 3 },
    });
    expect(progressed['startedAt']).toEqual(expect.any(String));
    // Left out: message and stage stay.
    expect(ok(await sdk.setProgress(id, 75))).toMatchObject({
      progress: 75,
      message: 'Rendering frames',
      stage: { name: 'render' },
    });

    const completed = ok(
      await sdk.complete(id, {
        result: { type: 'video', url: 'https://cdn.example/intro.mp4', data: { seconds: 42 } },
        message: 'Your video is ready',
        liveActivity: { ctaButton: { text: 'Watch', deepLink: 'app://v/1', style: 'primary' } },
        push: { alert: { title: 'Done', body: 'Ready' } },
      }),
    );
    expect(completed).toMatchObject({
      status: 'completed',
      progress: 100,
      message: 'Your video is ready',
      result: { type: 'video', url: 'https://cdn.example/intro.mp4', data: { seconds: 42 } },
    });
    expect(ok(await sdk.get(id))).toEqual(completed);
  });

  it('complete() without options sends {}; fail echoes retryable in error.details', async () => {
    const a = String(ok(await sdk.start({ jobType: 'x', userId: 'alice', title: 'A' }))['id']);
    expect(ok(await sdk.complete(a))).toMatchObject({ status: 'completed', progress: 100 });
    const b = String(ok(await sdk.start({ jobType: 'x', userId: 'alice', title: 'B' }))['id']);
    const failed = ok(
      await sdk.fail(b, {
        error: { code: 'GPU_OOM', message: 'Out of GPU memory', details: { gpu: 0 } },
        retryable: true,
        push: { silent: false },
      }),
    );
    expect(failed).toMatchObject({
      status: 'failed',
      error: { code: 'GPU_OOM', message: 'Out of GPU memory', details: { gpu: 0, retryable: true } },
    });
  });

  it('createBatch (parent, children in parallel, GET parent), progress from children, auto-completion, getWithChildren and list', async () => {
    const { parent, children } = await sdk.createBatch({
      jobType: 'thumbs',
      userId: 'alice',
      parentTitle: 'Thumbnails',
      childTitles: ['one', 'two', 'three', 'four', 'five'],
      childProgressMode: 'average',
      ttlSeconds: 7_200,
    });
    expect(parent).toMatchObject({
      status: 'pending',
      children: { total: 5, completed: 0, failed: 0, running: 0, pending: 5 },
      childProgressMode: 'average',
    });
    expect(children.map((child) => child['parent'])).toEqual(
      [0, 1, 2, 3, 4].map((childIndex) => ({ parentJobId: parent['id'], childIndex })),
    );
    const ids = children.map((child) => String(child['id']));
    await Promise.all(ids.slice(0, 3).map((id) => sdk.complete(id, { result: { url: `https://cdn/${id}.png` } })));
    await sdk.setProgress(ids[3] as string, 45);
    const view = ok(await sdk.getWithChildren(String(parent['id'])));
    expect(view['parent']).toMatchObject({
      progress: 69,
      status: 'running',
      children: { total: 5, completed: 3, failed: 0, running: 1, pending: 1 },
    });
    const rows = view['children'] as Record<string, unknown>[];
    expect(rows.map((row) => [row['childIndex'], row['status'], row['progress']])).toEqual([
      [0, 'completed', 100],
      [1, 'completed', 100],
      [2, 'completed', 100],
      [3, 'running', 45],
      [4, 'pending', 0],
    ]);
    expect(rows[0]).toMatchObject({
      id: ids[0],
      title: 'one',
      result: { url: `https://cdn/${ids[0]}.png` },
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });

    // A failed child does not fail a Seenn parent (unless metadata.failOnChildFailure is true).
    await sdk.fail(ids[3] as string, { error: { code: 'E', message: 'bad image' } });
    await sdk.complete(ids[4] as string);
    expect(ok(await sdk.get(String(parent['id'])))).toMatchObject({
      status: 'completed',
      progress: 100,
      children: { total: 5, completed: 4, failed: 1, running: 0, pending: 0 },
    });

    const page = ok(await sdk.list('alice', { limit: 100 }));
    expect((page['jobs'] as { id: string }[]).map((job) => job.id)).toEqual(
      expect.arrayContaining([parent['id'], ...ids]),
    );
  });

  it('keeps ETA statistics per workflow: get, list, reset', async () => {
    for (let i = 0; i < 3; i += 1) {
      const id = String(
        ok(await sdk.start({ jobType: 'eta-job', userId: 'alice', title: `ETA ${i}`, workflowId: 'eta-flow' }))['id'],
      );
      await sdk.setProgress(id, 10);
      await sdk.complete(id);
    }
    const stats = ok(await sdk.etaGetStats('eta-flow'));
    expect(stats).toEqual({
      etaKey: 'eta-flow',
      count: 3,
      avgDuration: expect.any(Number),
      p50Duration: expect.any(Number),
      p95Duration: expect.any(Number),
      minDuration: expect.any(Number),
      maxDuration: expect.any(Number),
      confidence: 0.15,
      lastUpdated: expect.any(String),
    });
    expect(Math.abs(Date.parse(stats['lastUpdated'] as string) - Date.now())).toBeLessThan(60_000);
    expect((ok(await sdk.etaList())['stats'] as { etaKey: string }[]).map((entry) => entry.etaKey)).toContain(
      'eta-flow',
    );
    expect(ok(await sdk.etaReset('eta-flow'))).toEqual({ etaKey: 'eta-flow', deleted: true });
    expect(await sdk.etaGetStats('eta-flow')).toMatchObject({
      ok: false,
      status: 404,
      code: 'NOT_FOUND',
      details: { id: 'eta-flow' },
    });
    expect(ok(await sdk.etaReset('eta-flow'))).toEqual({ etaKey: 'eta-flow', deleted: false });
  });

  it('honours Idempotency-Key: a retried POST creates one job and answers the same', async () => {
    const body = { jobType: 'idem', userId: 'carol', title: 'Once' };
    const first = await sdk.request('POST', '/jobs', body, { 'Idempotency-Key': 'create-once-1' });
    const second = await sdk.request('POST', '/jobs', body, { 'Idempotency-Key': 'create-once-1' });
    expect(first.status).toBe(201);
    expect(second).toEqual(first);
    expect((ok(await sdk.list('carol'))['jobs'] as unknown[]).length).toBe(1);
    expect(
      await sdk.request('POST', '/jobs', { ...body, title: 'Other' }, { 'Idempotency-Key': 'create-once-1' }),
    ).toMatchObject({ status: 400, code: 'VALIDATION_ERROR', details: { reason: 'idempotency-key-reused' } });
    const id = String(ok(first)['id']);
    const p1 = await sdk.request('POST', `/jobs/${id}/progress`, { progress: 20 }, { 'Idempotency-Key': 'p-20' });
    const p2 = await sdk.request('POST', `/jobs/${id}/progress`, { progress: 20 }, { 'Idempotency-Key': 'p-20' });
    expect(p2).toEqual(p1);
    const entries = await bridge.seenn.context.store.readStream('carol', '0-0', 100);
    expect(entries.map((entry) => entry.event)).toEqual(['job.started', 'job.progress']);
  });
});

describe('the write routes refuse bad requests with coded errors', () => {
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${bridge.baseUrl}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const envelope = async (
    response: Response,
  ): Promise<{ status: number; code: string; details: Record<string, unknown> }> => {
    const json = (await response.json()) as {
      error: { code: string; message: string; details: Record<string, unknown> };
    };
    expect(json).toEqual({
      error: { code: expect.any(String), message: expect.any(String), details: expect.any(Object) },
    });
    return { status: response.status, code: json.error.code, details: json.error.details };
  };
  const valid = { jobType: 'x', userId: 'alice', title: 'T' };

  it('401 without a key or with a wrong one, 403 for an end-user token (which never writes)', async () => {
    expect(await envelope(await post('/jobs', valid))).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    expect(
      await envelope(await post('/jobs', valid, { Authorization: 'Bearer sk_test_wrong_wrong_wrong_wrong' })),
    ).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    expect(await envelope(await post('/jobs', valid, { Authorization: `Bearer ${aliceToken}` }))).toMatchObject({
      status: 403,
      code: 'FORBIDDEN',
    });
    const id = String(ok(await sdk.start(valid))['id']);
    expect(
      await envelope(await post(`/jobs/${id}/progress`, { progress: 5 }, { Authorization: `Bearer ${aliceToken}` })),
    ).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    expect(
      await envelope(await fetch(`${bridge.baseUrl}/eta`, { headers: { Authorization: `Bearer ${aliceToken}` } })),
    ).toMatchObject({ status: 403 });
    expect(await envelope(await fetch(`${bridge.baseUrl}/eta/x`, { method: 'DELETE' }))).toMatchObject({ status: 401 });
  });

  it('400 for bad bodies, 413 for an oversized one', async () => {
    const auth = { Authorization: `Bearer ${API_KEY}` };
    const cases: [unknown, string][] = [
      [{ userId: 'alice', title: 'T' }, 'jobType'],
      [{ ...valid, title: '' }, 'title'],
      [{ ...valid, userId: 'u'.repeat(256) }, 'userId'],
      [{ ...valid, ttlSeconds: 10 }, 'ttlSeconds'],
      [{ ...valid, estimatedDuration: 10 }, 'estimatedDuration'],
      [{ ...valid, queue: { position: 0 } }, 'queue.position'],
      [{ ...valid, stage: { name: 's', current: 1 } }, 'stage.total'],
      [{ ...valid, totalChildren: 2, parentJobId: '01ABC', childIndex: 0 }, 'parentJobId'],
      [{ ...valid, childProgressMode: 'average' }, 'childProgressMode'],
      [{ ...valid, parentJobId: '01ABC' }, 'childIndex'],
      [{ ...valid, totalChildren: 1001 }, 'totalChildren'],
      [{ ...valid, surprise: 1 }, ''],
    ];
    for (const [body, path] of cases) {
      const answer = await envelope(await post('/jobs', body, auth));
      expect(answer, JSON.stringify(body)).toMatchObject({ status: 400, code: 'VALIDATION_ERROR' });
      if (path !== '')
        expect((answer.details['issues'] as { path: string }[]).map((issue) => issue.path)).toContain(path);
    }
    expect(await envelope(await post('/jobs', '{"jobType":', auth))).toMatchObject({
      status: 400,
      code: 'VALIDATION_ERROR',
    });
    expect(await envelope(await post('/jobs', '[1]', auth))).toMatchObject({ status: 400, code: 'VALIDATION_ERROR' });
    expect(
      await envelope(await post('/jobs', { ...valid, metadata: { blob: 'x'.repeat(11 * 1024) } }, auth)),
    ).toMatchObject({ status: 400, code: 'PAYLOAD_TOO_LARGE' });
    expect(
      await envelope(await post('/jobs', { ...valid, metadata: { blob: 'x'.repeat(70 * 1024) } }, auth)),
    ).toMatchObject({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
    const id = String(ok(await sdk.start(valid))['id']);
    expect(await sdk.setProgress(id, 150)).toMatchObject({ status: 400, code: 'VALIDATION_ERROR' });
    expect(await sdk.setProgress(id, 10, { metadata: [1] })).toMatchObject({ status: 400, code: 'VALIDATION_ERROR' });
    expect(await sdk.complete(id, { result: { data: 'not an object' } })).toMatchObject({
      status: 400,
      code: 'VALIDATION_ERROR',
    });
    expect(await sdk.fail(id, { error: { message: 'no code' } })).toMatchObject({
      status: 400,
      code: 'VALIDATION_ERROR',
    });
    expect(await sdk.fail(id, {})).toMatchObject({ status: 400, code: 'VALIDATION_ERROR' });
    expect(ok(await sdk.get(id))).toMatchObject({ status: 'pending', progress: 0 });
  });

  it('404 with details.id for unknown jobs and parents, 409 for finished jobs, taken indexes and worker-driven jobs', async () => {
    expect(await sdk.setProgress('01JNOSUCHJOB00000000000000', 5)).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
      details: { id: '01JNOSUCHJOB00000000000000' },
    });
    expect(await sdk.complete('01JNOSUCHJOB00000000000000')).toMatchObject({
      status: 404,
      details: { id: '01JNOSUCHJOB00000000000000' },
    });
    expect(await sdk.get('01JNOSUCHJOB00000000000000')).toMatchObject({
      status: 404,
      details: { id: '01JNOSUCHJOB00000000000000' },
    });
    expect(
      await sdk.createChild({
        parentJobId: '01JNOSUCHPARENT00000000000',
        childIndex: 0,
        jobType: 'x',
        userId: 'alice',
        title: 'c',
      }),
    ).toMatchObject({ status: 404, details: { id: '01JNOSUCHPARENT00000000000' } });

    const done = String(ok(await sdk.start(valid))['id']);
    await sdk.complete(done);
    expect(await sdk.setProgress(done, 5)).toMatchObject({ status: 409, code: 'CONFLICT' });
    expect(await sdk.complete(done)).toMatchObject({ status: 409, code: 'CONFLICT' });
    expect(await sdk.fail(done, { error: { code: 'E', message: 'e' } })).toMatchObject({
      status: 409,
      code: 'CONFLICT',
    });

    const parent = String(
      ok(await sdk.createParent({ jobType: 'p', userId: 'alice', title: 'P', childCount: 2 }))['id'],
    );
    ok(await sdk.createChild({ parentJobId: parent, childIndex: 0, jobType: 'c', userId: 'alice', title: 'c0' }));
    expect(
      await sdk.createChild({ parentJobId: parent, childIndex: 0, jobType: 'c', userId: 'alice', title: 'again' }),
    ).toMatchObject({ status: 409, code: 'CONFLICT' });
    expect(
      await sdk.createChild({ parentJobId: parent, childIndex: 2, jobType: 'c', userId: 'alice', title: 'out' }),
    ).toMatchObject({ status: 400, code: 'VALIDATION_ERROR' });
    expect(
      await sdk.createChild({ parentJobId: parent, childIndex: 1, jobType: 'c', userId: 'bob', title: 'not bob' }),
    ).toMatchObject({ status: 400, code: 'VALIDATION_ERROR' });
    expect(
      await sdk.createChild({ parentJobId: done, childIndex: 0, jobType: 'c', userId: 'alice', title: 'no parent' }),
    ).toMatchObject({ status: 400, code: 'VALIDATION_ERROR' });

    const driven = await bridge.seenn.jobs.start({
      queue: 'write-api-driven',
      userId: 'alice',
      jobType: 'w',
      title: 'Worker job',
    });
    expect(await sdk.setProgress(driven.id, 5)).toMatchObject({
      status: 409,
      code: 'CONFLICT',
      details: { reason: 'worker-driven' },
    });
  });
});

describe('reads with a backend key, and cancel', () => {
  it('a backend key reads any user’s jobs, lists and children; a user token still sees only its own', async () => {
    const bobJob = String(ok(await sdk.start({ jobType: 'x', userId: 'bob', title: 'Bob’s' }))['id']);
    expect(ok(await sdk.get(bobJob))).toMatchObject({ id: bobJob, userId: 'bob' });
    expect((ok(await sdk.list('bob'))['jobs'] as { id: string }[]).map((job) => job.id)).toContain(bobJob);
    expect(await sdk.request('GET', '/jobs')).toMatchObject({ status: 400, code: 'VALIDATION_ERROR' });
    expect((await getJson(`${bridge.baseUrl}/jobs/${bobJob}`, aliceToken)).status).toBe(404);
    expect((await getJson(`${bridge.baseUrl}/jobs/${bobJob}`, bobToken)).body).toMatchObject({ id: bobJob });
    expect((await getJson(`${bridge.baseUrl}/jobs/${bobJob}`)).status).toBe(401);
  });

  it('POST /jobs/:id/cancel: the owner with a user token or the backend with a key; anyone else 404; finished 409', async () => {
    const cancel = (id: string, token: string, body: unknown = {}) =>
      fetch(`${bridge.baseUrl}/jobs/${id}/cancel`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    const mine = String(ok(await sdk.start({ jobType: 'x', userId: 'alice', title: 'Mine' }))['id']);
    const byBob = await cancel(mine, bobToken);
    expect(byBob.status).toBe(404);
    expect(await byBob.json()).toMatchObject({ error: { code: 'NOT_FOUND', details: { id: mine } } });
    const byAlice = await cancel(mine, aliceToken, { reason: 'changed my mind' });
    expect(byAlice.status).toBe(200);
    expect(await byAlice.json()).toMatchObject({ id: mine, status: 'cancelled', message: 'changed my mind' });
    expect((await cancel(mine, aliceToken)).status).toBe(409);
    const other = String(ok(await sdk.start({ jobType: 'x', userId: 'bob', title: 'Backend cancels' }))['id']);
    const byKey = await cancel(other, API_KEY);
    expect(byKey.status).toBe(200);
    expect(await byKey.json()).toMatchObject({ id: other, status: 'cancelled' });
    expect((await cancel(other, 'not-a-token')).status).toBe(401);
  });
});

describe('write-route jobs reach SSE clients like worker jobs', () => {
  it('live, and by replay after a reconnect', async () => {
    const stream = new RecordingEventSource(`${bridge.baseUrl}/sse`, { token: aliceToken });
    try {
      await waitFor(() => stream.ofType('connected').length > 0, { what: 'the stream to connect' });
      const id = String(ok(await sdk.start({ jobType: 'live', userId: 'alice', title: 'Live' }))['id']);
      await sdk.setProgress(id, 40, { message: 'Working' });
      await sdk.complete(id, { result: { url: 'https://cdn/live' } });
      const mine = () => stream.jobEvents().filter((event) => event.data['id'] === id);
      await waitFor(() => mine().length === 3, { what: 'three live events' });
      expect(mine().map((event) => [event.type, event.data['status'], event.data['progress']])).toEqual([
        ['job.started', 'pending', 0],
        ['job.progress', 'running', 40],
        ['job.completed', 'completed', 100],
      ]);
      const firstId = mine()[0]?.id as string;
      const replay = new RecordingEventSource(`${bridge.baseUrl}/sse`, { token: aliceToken, lastEventId: firstId });
      try {
        await waitFor(() => replay.jobEvents().filter((event) => event.data['id'] === id).length === 2, {
          what: 'the replayed events',
        });
        expect(replay.ofType('connected')[0]?.data).toMatchObject({ recovered: true });
        expect(
          replay
            .jobEvents()
            .filter((event) => event.data['id'] === id)
            .map((event) => [event.type, (event.data as unknown as SeennJob).progress]),
        ).toEqual([
          ['job.progress', 40],
          ['job.completed', 100],
        ]);
      } finally {
        replay.close();
      }
    } finally {
      stream.close();
    }
  });
});

describe('without writeApi', () => {
  it('serves no write routes, and refuses keys that could pass for tokens', async () => {
    const plain = await startBridge();
    try {
      const response = await fetch(`${plain.baseUrl}/jobs`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ jobType: 'x', userId: 'a', title: 't' }),
      });
      // `/jobs` is a read route there: POST is a method it does not answer.
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('GET, HEAD');
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('METHOD_NOT_ALLOWED');
      expect(() => plain.seenn.bridge({ writeApi: { apiKeys: ['eyJhbGciOiJIUzI1NiJ9.e30.sig-sig-sig-sig'] } })).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID' }),
      );
      expect(() => plain.seenn.bridge({ writeApi: { apiKeys: ['short'] } })).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID' }),
      );
    } finally {
      await plain.close();
    }
  });

  it('still lets a job’s owner cancel it: client.cancel(id) (a backend key is no credential there)', async () => {
    const plain = await startBridge();
    const client = new SeennClient({
      baseUrl: plain.baseUrl,
      token: () => plain.seenn.tokens.issue({ userId: 'dora', ttlSeconds: 600 }),
    });
    try {
      const job = await plain.seenn.jobs.start({ userId: 'dora', jobType: 'x', title: 'Dora’s' });
      const theirs = await plain.seenn.jobs.start({ userId: 'eve', jobType: 'x', title: 'Eve’s' });
      const cancelled = await client.cancel(job.id, { reason: 'not needed' });
      expect(cancelled).toMatchObject({ id: job.id, status: 'cancelled', message: 'not needed' });
      expect(client.getJob(job.id)?.status).toBe('cancelled');
      await expect(client.cancel(job.id)).rejects.toMatchObject({ code: 'CONFLICT', status: 409 });
      await expect(client.cancel(theirs.id)).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
      expect((await plain.seenn.jobs.get(theirs.id))?.status).toBe('pending');
      const byKey = await fetch(`${plain.baseUrl}/jobs/${theirs.id}/cancel`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${API_KEY}` },
      });
      expect(byKey.status).toBe(401);
    } finally {
      client.close();
      await plain.close();
    }
  });
});
