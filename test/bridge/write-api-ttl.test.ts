/**
 * Seenn's per-job `ttlSeconds`, sent as `@seenn/node` sends it: once the job has ended, its snapshot,
 * its owner entry and (for a parent) its children index expire `ttlSeconds` later; a child never
 * outlives its parent. An expired job is gone from every view: REST (backend key and user token),
 * lists, `job.sync` on a fresh SSE connect, handles. TTLs are read from the real Redis (`PTTL`); the
 * expiry itself is brought forward with `PEXPIRE … 1` on exactly those keys (ttlSeconds is at least
 * 60 s), and the test waits until Redis has dropped them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RETENTION_DEFAULTS } from '../../src/store/index.js';
import { waitFor } from '../helpers/wait.js';
import { RecordingEventSource, getJson, startBridge, type TestBridge } from './helpers.js';
import { SeennNodeReplay, ok } from './seenn-node.js';

const API_KEY = 'sk_test_ttl_0123456789abcdefghij';
const DAY_MS = 24 * 3600 * 1000;

let bridge: TestBridge;
let sdk: SeennNodeReplay;

beforeAll(async () => {
  bridge = await startBridge({ writeApi: { apiKeys: [API_KEY] } });
  sdk = new SeennNodeReplay(bridge.baseUrl, API_KEY);
});

afterAll(async () => {
  await bridge.close();
});

const keys = () => bridge.seenn.context.keys;
const snapshotKey = (userId: string, jobId: string) => keys().job(userId, jobId);
const ownerKey = (jobId: string) => keys().owner(jobId);
const pttl = (key: string) => bridge.redis.pttl(key);

/** Asserts `key` expires within `seconds` but not much sooner (the test runs in well under a minute). */
async function expectTtl(key: string, seconds: number): Promise<void> {
  const ms = await pttl(key);
  expect(ms, key).toBeLessThanOrEqual(seconds * 1000);
  expect(ms, key).toBeGreaterThan((seconds - 60) * 1000);
}

describe('per-job ttlSeconds', () => {
  it('applies once the job has ended: snapshot and owner entry expire ttlSeconds later; unfinished jobs and jobs without one keep the store retention', async () => {
    const id = String(
      ok(await sdk.start({ jobType: 'ttl', userId: 'tina', title: 'Short-lived', ttlSeconds: 120 }))['id'],
    );
    // Unfinished: the store's activeJobSeconds, renewed by every change.
    await expectTtl(snapshotKey('tina', id), RETENTION_DEFAULTS.activeJobSeconds);
    ok(await sdk.setProgress(id, 30));
    await expectTtl(snapshotKey('tina', id), RETENTION_DEFAULTS.activeJobSeconds);
    ok(await sdk.complete(id, { result: { url: 'https://cdn.example/x' } }));
    await expectTtl(snapshotKey('tina', id), 120);
    await expectTtl(ownerKey(id), 120);
    // ttlSeconds is not part of the job object users see.
    expect(ok(await sdk.get(id))).not.toHaveProperty('ttlSeconds');

    const plain = String(ok(await sdk.start({ jobType: 'ttl', userId: 'tina', title: 'Default' }))['id']);
    ok(await sdk.fail(plain, { error: { code: 'E', message: 'broke' } }));
    await expectTtl(snapshotKey('tina', plain), RETENTION_DEFAULTS.finishedJobSeconds);
    expect(await pttl(ownerKey(plain))).toBeGreaterThan(RETENTION_DEFAULTS.finishedJobSeconds * 1000);

    // The handle API takes it too (a Seenn-only job), and a cancelled job ends like any other.
    const handle = await bridge.seenn.jobs.start({
      userId: 'tina',
      jobType: 'ttl',
      title: 'By handle',
      ttlSeconds: 600,
    });
    await handle.cancel({ reason: 'no longer needed' });
    await expectTtl(snapshotKey('tina', handle.id), 600);
    await expectTtl(ownerKey(handle.id), 600);
  });

  it('is validated with coded errors, and nothing is written', async () => {
    for (const ttlSeconds of [59, 2_592_001, 60.5, '600', null]) {
      const answer = await sdk.start({ jobType: 'ttl', userId: 'vera', title: 'Bad', ttlSeconds });
      expect(answer, String(ttlSeconds)).toMatchObject({ ok: false, status: 400, code: 'VALIDATION_ERROR' });
    }
    await expect(
      bridge.seenn.jobs.start({ userId: 'vera', jobType: 'ttl', title: 'Bad', ttlSeconds: 30 }),
    ).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(ok(await sdk.list('vera'))['jobs']).toEqual([]);
    for (const ttlSeconds of [60, 2_592_000])
      expect(
        await sdk.start({ jobType: 'ttl', userId: 'vera', title: 'Edge', ttlSeconds }),
        String(ttlSeconds),
      ).toMatchObject({ ok: true, status: 201 });
  });

  it('a parent takes its children index along; children inherit its TTL and are capped at it', async () => {
    const { parent, children } = await sdk.createBatch({
      jobType: 'ttl-batch',
      userId: 'tina',
      parentTitle: 'Batch',
      childTitles: ['a', 'b'],
      ttlSeconds: 900,
    });
    const parentId = String(parent['id']);
    const [a, b] = children.map((child) => String(child['id'])) as [string, string];
    // A child created by handle without its own TTL inherits the parent's; one asking for more is capped.
    const family = String(
      ok(
        await sdk.createParent({
          jobType: 'ttl-family',
          userId: 'tina',
          title: 'Family',
          childCount: 2,
          ttlSeconds: 300,
        }),
      )['id'],
    );
    const inherited = await bridge.seenn.jobs.createChild({
      parentJobId: family,
      childIndex: 0,
      jobType: 'c',
      title: 'inherits',
    });
    const capped = String(
      ok(
        await sdk.createChild({
          parentJobId: family,
          childIndex: 1,
          jobType: 'c',
          userId: 'tina',
          title: 'capped',
          ttlSeconds: 86_400,
        }),
      )['id'],
    );

    ok(await sdk.complete(a));
    await expectTtl(snapshotKey('tina', a), 900);
    // The parent is still running: its children index keeps the long TTL.
    expect(await pttl(keys().children('tina', parentId))).toBeGreaterThan(DAY_MS);
    ok(await sdk.complete(b));
    // The last child completed the parent in the same commit: parent, its owner entry and children index.
    expect(ok(await sdk.get(parentId))).toMatchObject({ status: 'completed' });
    await expectTtl(snapshotKey('tina', parentId), 900);
    await expectTtl(ownerKey(parentId), 900);
    await expectTtl(keys().children('tina', parentId), 900);

    // An explicit complete of a parent (no child change in that commit) also shortens its children index.
    ok(await sdk.complete(family));
    await expectTtl(keys().children('tina', family), 300);
    await inherited.complete();
    await expectTtl(snapshotKey('tina', inherited.id), 300);
    ok(await sdk.fail(capped, { error: { code: 'E', message: 'e' } }));
    await expectTtl(snapshotKey('tina', capped), 300);
    await expectTtl(ownerKey(capped), 300);
  });

  it('an expired job is gone from REST, lists, job.sync and handles', async () => {
    const userToken = await bridge.seenn.tokens.issue({ userId: 'uma', ttlSeconds: 600 });
    const gone = String(ok(await sdk.start({ jobType: 'ttl', userId: 'uma', title: 'Expires', ttlSeconds: 60 }))['id']);
    ok(await sdk.complete(gone));
    const { parent, children } = await sdk.createBatch({
      jobType: 'ttl',
      userId: 'uma',
      parentTitle: 'Expiring batch',
      childTitles: ['only'],
      ttlSeconds: 60,
    });
    const parentId = String(parent['id']);
    const childId = String(children[0]?.['id']);
    ok(await sdk.complete(childId));
    const kept = String(ok(await sdk.start({ jobType: 'ttl', userId: 'uma', title: 'Still here' }))['id']);

    // Before: everything is there.
    expect((await getJson(`${bridge.baseUrl}/jobs/${gone}`, userToken)).status).toBe(200);
    const expiring = [
      snapshotKey('uma', gone),
      ownerKey(gone),
      snapshotKey('uma', parentId),
      ownerKey(parentId),
      keys().children('uma', parentId),
      snapshotKey('uma', childId),
      ownerKey(childId),
    ];
    for (const key of expiring) await expectTtl(key, 60);

    // Their TTL runs out (brought forward from 60 s): Redis drops the keys.
    for (const key of expiring) await bridge.redis.pexpire(key, 1);
    await waitFor(
      async () => (await Promise.all(expiring.map((key) => bridge.redis.exists(key)))).every((count) => count === 0),
      { what: 'Redis to expire the keys' },
    );

    for (const id of [gone, parentId, childId]) {
      expect(await sdk.get(id)).toMatchObject({ ok: false, status: 404, code: 'NOT_FOUND', details: { id } });
      const byUser = await getJson(`${bridge.baseUrl}/jobs/${id}`, userToken);
      expect(byUser.status).toBe(404);
    }
    expect(await sdk.getWithChildren(parentId)).toMatchObject({ status: 404 });
    expect(await sdk.setProgress(gone, 10)).toMatchObject({ status: 404, details: { id: gone } });
    await expect(bridge.seenn.jobs.handle(gone).refresh()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((ok(await sdk.list('uma'))['jobs'] as { id: string }[]).map((job) => job.id)).toEqual([kept]);
    expect(
      ((await getJson(`${bridge.baseUrl}/jobs?userId=uma`, userToken)).body['jobs'] as { id: string }[]).map(
        (job) => job.id,
      ),
    ).toEqual([kept]);

    // A fresh SSE connect syncs the job that is still there, and nothing of the expired ones (the
    // user's few jobs are one sync page, sent together).
    const stream = new RecordingEventSource(`${bridge.baseUrl}/sse`, { token: userToken });
    try {
      await waitFor(() => stream.ofType('job.sync').some((event) => event.data['id'] === kept), {
        what: 'the sync of the remaining job',
      });
      expect(stream.ofType('job.sync').map((event) => event.data['id'])).toEqual([kept]);
    } finally {
      stream.close();
    }
  });
});
