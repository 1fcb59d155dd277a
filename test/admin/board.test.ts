/**
 * bull-board behind the admin route: the page and its assets answer only with credentials (token or
 * Basic, for browsers), its base path follows the mount point, read-only mode blocks every mutating
 * call (a retry changes nothing), a writable board retries for real but refuses cross-site calls,
 * `boardPath: null` mounts none, and a missing bull-board answers a coded error.
 */
import { createRequire } from 'node:module';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN_TOKEN, call, envelope, startBed, type AdminBed } from './harness.js';

const QUEUE = 'board';
let bed: AdminBed;
let queue: Queue;
let failedId: string;
let workerConnection: Redis;

const nodeRequire = createRequire(import.meta.url);
/** A module loader on which the given packages are not installed. */
function loaderWithout(...missing: string[]): (id: string) => unknown {
  return (id) => {
    if (missing.some((name) => id === name || id.startsWith(`${name}/`)))
      throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
    return nodeRequire(id);
  };
}

const basic = (password: string): string => `Basic ${Buffer.from(`ops:${password}`).toString('base64')}`;

beforeAll(async () => {
  bed = await startBed();
  bed.mount('/admin', { auth: { token: ADMIN_TOKEN }, queues: [QUEUE] });
  bed.mount('/rw', { auth: { token: ADMIN_TOKEN }, queues: [QUEUE], readOnly: false, boardPath: '/bull' });
  bed.mount('/noboard', { auth: { token: ADMIN_TOKEN }, queues: [QUEUE], boardPath: null });
  bed.mount(
    '/missing',
    { auth: { token: ADMIN_TOKEN }, queues: [QUEUE] },
    loaderWithout('@bull-board/api', '@bull-board/express'),
  );
  bed.mount(
    '/missing-express',
    { auth: { token: ADMIN_TOKEN }, queues: [QUEUE] },
    loaderWithout('@bull-board/express'),
  );
  queue = new Queue(QUEUE, { connection: bed.redis, prefix: bed.prefix });
  // One job that fails for good, then no worker: retrying it leaves it waiting.
  workerConnection = connect();
  const worker = new Worker(
    QUEUE,
    async () => {
      throw new Error('nope');
    },
    { connection: workerConnection, prefix: bed.prefix },
  );
  worker.on('error', () => undefined);
  const job = await queue.add('doomed', { n: 1 }, { attempts: 1 });
  failedId = job.id as string;
  await waitFor(async () => (await queue.getJobState(failedId)) === 'failed', { what: 'the job to fail' });
  await worker.close();
});

afterAll(async () => {
  await queue.close();
  await workerConnection.quit();
  await bed.close();
});

describe('bull-board behind the admin route', () => {
  it('serves the page and its assets with credentials only, based where the router is mounted', async () => {
    const url = `${bed.origin}/admin/queues`;
    const refused = await call(url);
    expect(refused.status).toBe(401);
    expect(envelope(refused)?.code).toBe('UNAUTHORIZED');
    expect(refused.headers.get('www-authenticate')).toContain('Basic');
    expect((await call(url, { token: 'x'.repeat(ADMIN_TOKEN.length) })).status).toBe(401);

    const page = await call(url, { token: ADMIN_TOKEN });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.text).toContain('<base href="/admin/queues/"');
    // A browser's way in: the token as the Basic password.
    expect((await call(`${url}/queue/${QUEUE}`, { headers: { authorization: basic(ADMIN_TOKEN) } })).status).toBe(200);
    expect((await call(url, { headers: { authorization: basic('not-the-token-not-the-token-0123') } })).status).toBe(
      401,
    );

    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(page.text)?.[1];
    expect(script).toBeDefined();
    const asset = await call(`${url}/${script}`, { token: ADMIN_TOKEN });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect((await call(`${url}/${script}`)).status).toBe(401);

    // Mounted elsewhere, the page says so.
    const elsewhere = await call(`${bed.origin}/rw/bull`, { token: ADMIN_TOKEN });
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.text).toContain('<base href="/rw/bull/"');
  });

  it('its own API lists the queue as read-only, with BullMQ counts', async () => {
    const answer = await call(`${bed.origin}/admin/queues/api/queues?activeQueue=${QUEUE}&status=failed`, {
      token: ADMIN_TOKEN,
    });
    expect(answer.status).toBe(200);
    const [board] = answer.body['queues'] as {
      name: string;
      readOnlyMode: boolean;
      allowRetries: boolean;
      counts: Record<string, number>;
      jobs: { id: string }[];
    }[];
    expect(board).toMatchObject({ name: QUEUE, readOnlyMode: true, allowRetries: false, counts: { failed: 1 } });
    expect(board?.jobs.map((job) => job.id)).toEqual([failedId]);
    expect((await call(`${bed.origin}/admin/queues/api/queues`)).status).toBe(401);
  });

  it('read-only (the default): every mutating call answers 403 and changes nothing', async () => {
    const calls: [string, string, unknown?][] = [
      ['PUT', `/api/queues/${QUEUE}/${failedId}/retry`],
      ['PUT', `/api/queues/${QUEUE}/retry/failed`],
      ['PUT', `/api/queues/${QUEUE}/pause`],
      ['PUT', '/api/queues/pause'],
      ['PUT', `/api/queues/${QUEUE}/${failedId}/clean`],
      ['PUT', `/api/queues/${QUEUE}/obliterate`],
      ['POST', `/api/queues/${QUEUE}/add`, { name: 'sneaky', data: {} }],
      ['PATCH', `/api/queues/${QUEUE}/${failedId}/update-data`, { data: {} }],
      ['DELETE', `/api/queues/${QUEUE}/${failedId}`],
    ];
    for (const [method, path, json] of calls) {
      const answer = await call(`${bed.origin}/admin/queues${path}`, {
        token: ADMIN_TOKEN,
        method,
        ...(json === undefined ? {} : { json }),
      });
      expect(answer.status, `${method} ${path}`).toBe(403);
      expect(envelope(answer)).toMatchObject({ code: 'FORBIDDEN', details: { reason: 'read-only' } });
      // Without credentials the answer is 401 all the same.
      expect((await call(`${bed.origin}/admin/queues${path}`, { method })).status).toBe(401);
    }
    expect(await queue.getJobState(failedId)).toBe('failed');
    expect(await queue.isPaused()).toBe(false);
    expect(await queue.getJobCounts()).toMatchObject({ failed: 1, waiting: 0, completed: 0 });
  });

  it('readOnly: false lets the board retry a job, but not from another site', async () => {
    const listed = await call(`${bed.origin}/rw/bull/api/queues`, { token: ADMIN_TOKEN });
    expect((listed.body['queues'] as { readOnlyMode: boolean }[])[0]?.readOnlyMode).toBe(false);

    const retry = `${bed.origin}/rw/bull/api/queues/${QUEUE}/${failedId}/retry`;
    const crossSite = await call(retry, {
      token: ADMIN_TOKEN,
      method: 'PUT',
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite.status).toBe(403);
    expect(envelope(crossSite)).toMatchObject({ code: 'FORBIDDEN', details: { reason: 'cross-site' } });
    expect(await queue.getJobState(failedId)).toBe('failed');
    expect((await call(retry, { method: 'PUT' })).status).toBe(401);

    const done = await call(retry, { token: ADMIN_TOKEN, method: 'PUT', headers: { 'sec-fetch-site': 'same-origin' } });
    expect(done.status).toBe(204);
    expect(await queue.getJobState(failedId)).toBe('waiting');
  });

  it('boardPath: null mounts no board; the JSON view stays', async () => {
    expect((await call(`${bed.origin}/noboard/queues`)).status).toBe(401);
    const none = await call(`${bed.origin}/noboard/queues`, { token: ADMIN_TOKEN });
    expect(none.status).toBe(404);
    expect(envelope(none)?.code).toBe('NOT_FOUND');
    expect((await call(`${bed.origin}/noboard/api/queues`, { token: ADMIN_TOKEN })).status).toBe(200);
  });

  it('without bull-board installed, the board answers a coded error saying what to install; the JSON view stays', async () => {
    for (const mount of ['/missing', '/missing-express']) {
      expect((await call(`${bed.origin}${mount}/queues`)).status).toBe(401);
      const answer = await call(`${bed.origin}${mount}/queues`, { token: ADMIN_TOKEN });
      expect(answer.status, mount).toBe(500);
      expect(envelope(answer)).toMatchObject({
        code: 'CONFIG_INVALID',
        details: { packages: ['@bull-board/api', '@bull-board/express'] },
      });
      expect(envelope(answer)?.message).toContain('npm install @bull-board/api@9 @bull-board/express@9');
      expect((await call(`${bed.origin}${mount}/api/queues`, { token: ADMIN_TOKEN })).status).toBe(200);
    }
    expect(bed.logLines.filter((line) => line.startsWith('warn bull-board is not installed'))).toHaveLength(2);
  });

  it('never logs the token', () => {
    const basicForm = Buffer.from(`ops:${ADMIN_TOKEN}`).toString('base64');
    for (const line of bed.logLines) {
      expect(line).not.toContain(ADMIN_TOKEN);
      expect(line).not.toContain(basicForm);
    }
  });
});
