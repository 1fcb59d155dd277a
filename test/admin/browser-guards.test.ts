/**
 * Issue 13, finding 6: the admin route against a hostile page in the ops person's browser. A writable
 * board (`readOnly: false`) must refuse a mutating call that carries ambient credentials (cached Basic
 * auth) unless the request proves it comes from the admin's own origin (`Sec-Fetch-Site`, else
 * `Origin`); a Bearer token (which no browser attaches by itself) still works from scripts. No admin
 * answer may be framed or cached.
 */
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN_TOKEN, call, envelope, startBed, type AdminBed } from './harness.js';

const QUEUE = 'guarded';
let bed: AdminBed;
let queue: Queue;
let workerConnection: Redis;
let host: string;

const basic = `Basic ${Buffer.from(`ops:${ADMIN_TOKEN}`).toString('base64')}`;

beforeAll(async () => {
  bed = await startBed();
  host = new URL(bed.origin).host;
  bed.mount('/rw', { auth: { token: ADMIN_TOKEN }, queues: [QUEUE], readOnly: false });
  bed.mount('/ro', { auth: { token: ADMIN_TOKEN }, queues: [QUEUE] });
  queue = new Queue(QUEUE, { connection: bed.redis, prefix: bed.prefix });
  workerConnection = connect();
});

afterAll(async () => {
  await queue.close();
  await workerConnection.quit();
  await bed.close();
});

/** Adds a job that fails for good (no worker is left running), and returns its id. */
async function failedJob(): Promise<string> {
  const worker = new Worker(
    QUEUE,
    async () => {
      throw new Error('nope');
    },
    { connection: workerConnection, prefix: bed.prefix },
  );
  worker.on('error', () => undefined);
  const job = await queue.add('doomed', {}, { attempts: 1 });
  const id = job.id as string;
  await waitFor(async () => (await queue.getJobState(id)) === 'failed', { what: 'the job to fail' });
  await worker.close();
  return id;
}

describe('a writable board refuses cross-site requests that ride on cached credentials', () => {
  it('a text/plain POST with Basic credentials and no Sec-Fetch-Site, from another Origin, creates no job', async () => {
    const answer = await fetch(`${bed.origin}/rw/queues/api/queues/${QUEUE}/add`, {
      method: 'POST',
      headers: { authorization: basic, origin: 'http://evil.example', 'content-type': 'text/plain' },
      body: JSON.stringify({ name: 'planted', data: {} }),
    });
    expect(answer.status).toBe(403);
    expect(((await answer.json()) as { error: { code: string; details: { reason: string } } }).error).toMatchObject({
      code: 'FORBIDDEN',
      details: { reason: 'cross-site' },
    });
    expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 0 });
  });

  it('with Basic credentials and neither Sec-Fetch-Site nor Origin, a mutation is refused (nothing proves where it came from)', async () => {
    const id = await failedJob();
    const answer = await call(`${bed.origin}/rw/queues/api/queues/${QUEUE}/${id}/retry`, {
      method: 'PUT',
      headers: { authorization: basic },
    });
    expect(answer.status).toBe(403);
    expect(envelope(answer)).toMatchObject({ code: 'FORBIDDEN', details: { reason: 'cross-site' } });
    expect(await queue.getJobState(id)).toBe('failed');
  });

  it("an Origin of the admin's own host passes; an opaque `null` Origin does not", async () => {
    const id = await failedJob();
    const retry = `${bed.origin}/rw/queues/api/queues/${QUEUE}/${id}/retry`;
    const opaque = await call(retry, { method: 'PUT', headers: { authorization: basic, origin: 'null' } });
    expect(opaque.status).toBe(403);
    const lookalike = await call(retry, {
      method: 'PUT',
      headers: { authorization: basic, origin: `http://${host}.evil.example` },
    });
    expect(lookalike.status).toBe(403);
    expect(await queue.getJobState(id)).toBe('failed');
    const same = await call(retry, { method: 'PUT', headers: { authorization: basic, origin: bed.origin } });
    expect(same.status).toBe(204);
    expect(await queue.getJobState(id)).toBe('waiting');
    await queue.obliterate({ force: true });
  });

  it('Sec-Fetch-Site decides when a browser sends it, whatever the Origin', async () => {
    const id = await failedJob();
    const retry = `${bed.origin}/rw/queues/api/queues/${QUEUE}/${id}/retry`;
    const crossSite = await call(retry, {
      method: 'PUT',
      headers: { authorization: basic, origin: bed.origin, 'sec-fetch-site': 'same-site' },
    });
    expect(crossSite.status).toBe(403);
    expect(await queue.getJobState(id)).toBe('failed');
    const same = await call(retry, {
      method: 'PUT',
      headers: { authorization: basic, 'sec-fetch-site': 'same-origin' },
    });
    expect(same.status).toBe(204);
    await queue.obliterate({ force: true });
  });

  it('a script with the Bearer token (never attached by a browser on its own) needs neither header', async () => {
    const id = await failedJob();
    const answer = await call(`${bed.origin}/rw/queues/api/queues/${QUEUE}/${id}/retry`, {
      token: ADMIN_TOKEN,
      method: 'PUT',
    });
    expect(answer.status).toBe(204);
    expect(await queue.getJobState(id)).toBe('waiting');
    await queue.obliterate({ force: true });
  });
});

describe('no admin answer can be framed or cached', () => {
  const paths = ['/ro/queues', '/ro/queues/api/queues', '/ro/api/queues', '/ro/nowhere', '/rw/queues'];
  it.each(paths)('%s (with and without credentials)', async (path) => {
    for (const token of [ADMIN_TOKEN, undefined]) {
      const answer = await call(`${bed.origin}${path}`, token === undefined ? {} : { token });
      expect(answer.headers.get('x-frame-options'), `${path} ${answer.status}`).toBe('DENY');
      expect(answer.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it("bull-board's static assets too", async () => {
    const page = await call(`${bed.origin}/ro/queues`, { token: ADMIN_TOKEN });
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(page.text)?.[1];
    expect(script).toBeDefined();
    const asset = await call(`${bed.origin}/ro/queues/${script}`, { token: ADMIN_TOKEN });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('no-store');
    expect(asset.headers.get('x-frame-options')).toBe('DENY');
  });
});
