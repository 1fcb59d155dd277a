/**
 * Rate limits of the write routes over real HTTP: a budget per backend credential
 * (`writeApi.rateLimit`) on every backend route, 429 `RATE_LIMIT_EXCEEDED` with `Retry-After` and the
 * `X-RateLimit-*` headers beyond it, nothing written by a refused request; end users' cancels count
 * against the bridge's per-user `rateLimit`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { startBridge, type TestBridge } from './helpers.js';

const KEY_A = 'sk_test_rate_a_0123456789abcdef';
const KEY_B = 'sk_test_rate_b_0123456789abcdef';

let bridge: TestBridge;

beforeAll(async () => {
  bridge = await startBridge({
    rateLimit: { requests: 2, perMs: 60_000 },
    writeApi: { apiKeys: [KEY_A, KEY_B], rateLimit: { requests: 3, perMs: 60_000 } },
  });
});

afterAll(async () => {
  await bridge.close();
});

const job = { jobType: 'rate', userId: 'rita', title: 'Rate' };

function call(
  base: string,
  method: string,
  path: string,
  bearer: string | null,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  const init: RequestInit = {
    method,
    headers: {
      'Content-Type': 'application/json',
      ...headers,
      ...(bearer === null ? {} : { Authorization: `Bearer ${bearer}` }),
    },
  };
  if (body !== undefined) init.body = JSON.stringify(body);
  return fetch(`${base}${path}`, init);
}

/** A 429 as the Seenn SDK reads it: the envelope, `Retry-After` in whole seconds, the budget headers. */
async function expectRateLimited(response: Response, limit: number): Promise<void> {
  expect(response.status).toBe(429);
  const retryAfter = Number(response.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(response.headers.get('x-ratelimit-limit')).toBe(String(limit));
  expect(response.headers.get('x-ratelimit-remaining')).toBe('0');
  expect(await response.json()).toEqual({
    error: { code: 'RATE_LIMIT_EXCEEDED', message: expect.any(String), details: { retryAfterSeconds: retryAfter } },
  });
}

describe('writeApi.rateLimit', () => {
  it('counts every backend route per API key: 429 with Retry-After beyond the budget, nothing written, other keys unaffected', async () => {
    const base = bridge.baseUrl;
    const created = await call(base, 'POST', '/jobs', KEY_A, job);
    expect(created.status).toBe(201);
    expect(created.headers.get('x-ratelimit-limit')).toBe('3');
    expect(created.headers.get('x-ratelimit-remaining')).toBe('2');
    const id = String(((await created.json()) as { id: string }).id);
    const progressed = await call(base, 'POST', `/jobs/${id}/progress`, KEY_A, { progress: 10 });
    expect([progressed.status, progressed.headers.get('x-ratelimit-remaining')]).toEqual([200, '1']);
    // Reads and the ETA routes spend the same budget.
    const read = await call(base, 'GET', `/jobs/${id}`, KEY_A);
    expect([read.status, read.headers.get('x-ratelimit-remaining')]).toEqual([200, '0']);

    await expectRateLimited(await call(base, 'POST', '/jobs', KEY_A, { ...job, title: 'Refused' }), 3);
    await expectRateLimited(await call(base, 'POST', `/jobs/${id}/complete`, KEY_A, {}), 3);
    await expectRateLimited(await call(base, 'GET', '/eta', KEY_A), 3);
    await expectRateLimited(await call(base, 'GET', `/jobs?userId=rita`, KEY_A), 3);
    await expectRateLimited(await call(base, 'POST', `/jobs/${id}/cancel`, KEY_A, {}), 3);
    // Bad credentials are refused as such, whatever the budgets.
    expect((await call(base, 'POST', '/jobs', 'sk_test_not_a_key_0123456789', job)).status).toBe(401);

    // The other key has its own budget, and sees that the refused requests wrote nothing.
    const listed = await call(base, 'GET', '/jobs?userId=rita', KEY_B);
    expect([listed.status, listed.headers.get('x-ratelimit-remaining')]).toEqual([200, '2']);
    const { jobs } = (await listed.json()) as { jobs: { id: string; status: string; progress: number }[] };
    expect(jobs.map(({ id: jobId, status, progress }) => ({ id: jobId, status, progress }))).toEqual([
      { id, status: 'running', progress: 10 },
    ]);
  });

  it('opens again when the window has passed', async () => {
    const short = await startBridge({ writeApi: { apiKeys: [KEY_A], rateLimit: { requests: 1, perMs: 1_000 } } });
    try {
      expect((await call(short.baseUrl, 'POST', '/jobs', KEY_A, job)).status).toBe(201);
      await expectRateLimited(await call(short.baseUrl, 'POST', '/jobs', KEY_A, job), 1);
      // Refused requests do not spend: polling until the window passes gets one more job in.
      await waitFor(async () => (await call(short.baseUrl, 'POST', '/jobs', KEY_A, job)).status === 201, {
        timeoutMs: 5_000,
        intervalMs: 100,
        what: 'the next window',
      });
      expect((await short.seenn.jobs.list('rita')).jobs.length).toBe(2);
    } finally {
      await short.close();
    }
  });

  it('`null` is unlimited; a bad budget is CONFIG_INVALID', async () => {
    const open = await startBridge({ writeApi: { apiKeys: [KEY_A], rateLimit: null } });
    try {
      const answers = await Promise.all(
        Array.from({ length: 8 }, () => call(open.baseUrl, 'POST', '/jobs', KEY_A, job)),
      );
      expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 8 }, () => 201));
      expect(answers[0]?.headers.has('x-ratelimit-limit')).toBe(false);
      expect(() =>
        open.seenn.bridge({ writeApi: { apiKeys: [KEY_A], rateLimit: { requests: 0, perMs: 1_000 } } }),
      ).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
      expect(() =>
        open.seenn.bridge({ writeApi: { apiKeys: [KEY_A], rateLimit: { requests: 5, per: 1_000 } as never } }),
      ).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    } finally {
      await open.close();
    }
  });
});

describe('writeApi.rateLimit with an authenticate hook', () => {
  it('gives all the requests the hook accepts one budget', async () => {
    const hooked = await startBridge({
      writeApi: {
        authenticate: (req) => req.headers['x-backend'] === 'yes',
        rateLimit: { requests: 1, perMs: 60_000 },
      },
    });
    try {
      expect((await call(hooked.baseUrl, 'POST', '/jobs', 'one', job, { 'X-Backend': 'yes' })).status).toBe(201);
      await expectRateLimited(await call(hooked.baseUrl, 'POST', '/jobs', 'another', job, { 'X-Backend': 'yes' }), 1);
    } finally {
      await hooked.close();
    }
  });
});

describe("end users' cancels", () => {
  it('count against the bridge’s per-user rateLimit (with or without writeApi)', async () => {
    const plain = await startBridge({ rateLimit: { requests: 2, perMs: 60_000 } });
    try {
      for (const target of [bridge, plain]) {
        const token = await target.seenn.tokens.issue({ userId: 'ursula', ttlSeconds: 600 });
        const ids = await Promise.all(
          [1, 2, 3].map(
            async (n) => (await target.seenn.jobs.start({ userId: 'ursula', jobType: 'rate', title: `Job ${n}` })).id,
          ),
        );
        const first = await call(target.baseUrl, 'POST', `/jobs/${ids[0]}/cancel`, token, {});
        expect([first.status, first.headers.get('x-ratelimit-remaining')]).toEqual([200, '1']);
        expect((await call(target.baseUrl, 'POST', `/jobs/${ids[1]}/cancel`, token, {})).status).toBe(200);
        await expectRateLimited(await call(target.baseUrl, 'POST', `/jobs/${ids[2]}/cancel`, token, {}), 2);
        expect((await target.seenn.jobs.get(String(ids[2])))?.status).toBe('pending');
      }
    } finally {
      await plain.close();
    }
  });
});
