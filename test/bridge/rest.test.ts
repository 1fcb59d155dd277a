import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BRIDGE_DEFAULTS } from '../../src/bridge/index.js';
import { Seenn } from '../../src/seenn.js';
import { forgeToken } from '../helpers/forged-token.js';
import { capturingLogger } from '../helpers/logger.js';
import { connect, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { JobWriter, RawSseClient, SECRET, getJson, startBridge, type TestBridge } from './helpers.js';

const logLines: string[] = [];
let bridge: TestBridge;
let writer: JobWriter;
let aliceToken: string;

beforeAll(async () => {
  bridge = await startBridge({ rateLimit: { requests: 1000, perMs: 60_000 } }, { logger: capturingLogger(logLines) });
  writer = new JobWriter(bridge.seenn);
  await writer.create('alice', 'a-1');
  await writer.create('alice', 'a-2');
  await writer.create('bob', 'b-1');
  aliceToken = await bridge.seenn.tokens.issue({ userId: 'alice', ttlSeconds: 60 });
});

afterAll(async () => {
  await bridge.close();
});

function expectEnvelope(body: Record<string, unknown>, code: string): void {
  expect(body).toEqual({ error: { code, message: expect.any(String), details: expect.any(Object) } });
}

describe('REST: jobs', () => {
  it('answers HEAD /sse with the stream headers and opens no stream', async () => {
    const response = await fetch(`${bridge.baseUrl}/sse`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${aliceToken}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(await response.text()).toBe('');
    expect(bridge.router.bridge.stats.streams).toBe(0);
    expect((await fetch(`${bridge.baseUrl}/sse`, { method: 'HEAD' })).status).toBe(401);
  });

  it('answers GET /jobs/:id with the job object as JSON', async () => {
    const { status, headers, body } = await getJson(`${bridge.baseUrl}/jobs/a-1`, aliceToken);
    expect(status).toBe(200);
    expect(headers.get('content-type')).toMatch(/^application\/json/);
    expect(body).toMatchObject({
      id: 'a-1',
      jobId: 'a-1',
      userId: 'alice',
      appId: 'default',
      jobType: 'test',
      title: 'Job a-1',
      status: 'queued',
      progress: 0,
    });
    expect(headers.get('x-ratelimit-limit')).toBe('1000');
    expect(Number(headers.get('x-ratelimit-remaining'))).toBeLessThan(1000);
  });

  it('pages GET /jobs newest first with a cursor, 20 by default', async () => {
    const user = 'pager';
    for (let i = 0; i < 25; i += 1) await writer.create(user, `p-${String(i).padStart(2, '0')}`);
    const token = await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
    const first = await getJson(`${bridge.baseUrl}/jobs?userId=${user}`, token);
    expect(first.status).toBe(200);
    expect((first.body['jobs'] as unknown[]).length).toBe(20);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await getJson(
        `${bridge.baseUrl}/jobs?limit=10${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
        token,
      );
      expect(page.status).toBe(200);
      seen.push(...(page.body['jobs'] as { id: string; userId: string }[]).map((job) => job.id));
      cursor = page.body['nextCursor'] as string | undefined;
      pages += 1;
    } while (cursor !== undefined);
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `p-${String(24 - i).padStart(2, '0')}`));
  });

  it('answers GET /jobs/:id/children with the parent and its children by childIndex', async () => {
    await writer.create('alice', 'parent-1', { children: 3 });
    for (const index of [2, 0, 1])
      await writer.create('alice', `child-${index}`, { parentJobId: 'parent-1', childIndex: index });
    await writer.finish('child-1');
    const { status, body } = await getJson(`${bridge.baseUrl}/jobs/parent-1/children`, aliceToken);
    expect(status).toBe(200);
    expect((body['parent'] as { id: string }).id).toBe('parent-1');
    const children = body['children'] as { id: string; childIndex: number; status: string; title: string }[];
    expect(children.map((child) => [child.id, child.childIndex, child.status])).toEqual([
      ['child-0', 0, 'queued'],
      ['child-1', 1, 'completed'],
      ['child-2', 2, 'queued'],
    ]);
    // A token scoped to the parent reads it and its children, and nothing else.
    const scoped = await bridge.seenn.tokens.issue({ userId: 'alice', jobIds: ['parent-1'], ttlSeconds: 60 });
    expect((await getJson(`${bridge.baseUrl}/jobs/parent-1/children`, scoped)).status).toBe(200);
    expect((await getJson(`${bridge.baseUrl}/jobs/child-2`, scoped)).status).toBe(200);
    expect((await getJson(`${bridge.baseUrl}/jobs/a-1`, scoped)).status).toBe(404);
    const list = await getJson(`${bridge.baseUrl}/jobs`, scoped);
    expect((list.body['jobs'] as { id: string }[]).map((job) => job.id)).toEqual(['parent-1']);
  });
});

describe('REST: errors', () => {
  it('answers 401 with the envelope for missing, malformed, forged, expired, foreign-app and wrong-algorithm tokens', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = (
      secret: string,
      iat: number,
      exp: number,
      aud = 'seenn:default',
      alg = 'HS256',
      iss = 'seenn-bullmq',
    ) => forgeToken({ secret, sub: 'alice', iat, exp, aud, alg, iss });
    const [header, payload, signature] = aliceToken.split('.') as [string, string, string];
    const tamperedPayload = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: 'bob' }),
    ).toString('base64url');
    const otherApp = new Seenn({
      connection: connect(),
      appId: 'other-app',
      prefix: uniquePrefix('other'),
      tokenSecret: SECRET,
    });
    const cases: Record<string, string | undefined> = {
      missing: undefined,
      garbage: 'not-a-token',
      tampered: `${header}.${tamperedPayload}.${signature}`,
      'wrong secret': await claims('another-secret-another-secret-another-secret', now, now + 60),
      expired: await claims(SECRET, now - 120, now - 60),
      'other app': await otherApp.tokens.issue({ userId: 'alice', ttlSeconds: 60 }),
      'alg none': `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`,
      'HS512, same secret': await claims(SECRET, now, now + 60, 'seenn:default', 'HS512'),
      'RS256 header, HMAC signature': `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${payload}.${signature}`,
      'wrong issuer': await claims(SECRET, now, now + 60, 'seenn:default', 'HS256', 'someone-else'),
    };
    await otherApp.close();
    await otherApp.context.redis.quit();
    for (const [name, token] of Object.entries(cases)) {
      const { status, body, headers } = await getJson(`${bridge.baseUrl}/jobs/a-1`, token);
      expect(status, name).toBe(401);
      expect(headers.get('content-type')).toMatch(/^application\/json/);
      expectEnvelope(body, 'UNAUTHORIZED');
      expect((await getJson(`${bridge.baseUrl}/sse`, token)).status, `${name} on /sse`).toBe(401);
    }
    expect(Object.keys(cases)).toHaveLength(10);
  });

  it('accepts the token query parameter on /sse only', async () => {
    expect((await getJson(`${bridge.baseUrl}/jobs/a-1?token=${aliceToken}`)).status).toBe(401);
    const client = new RawSseClient(bridge.port, `/v1/sse?token=${aliceToken}`);
    try {
      await waitFor(() => client.ofType('connected').length === 1, { what: 'connected' });
      expect(client.status).toBe(200);
    } finally {
      client.close();
    }
  });

  it('answers 403 when the userId parameter is not the token user', async () => {
    for (const path of ['/jobs?userId=bob', '/jobs/a-1?userId=bob', '/sse?userId=bob']) {
      const { status, body } = await getJson(`${bridge.baseUrl}${path}`, aliceToken);
      expect(status, path).toBe(403);
      expectEnvelope(body, 'FORBIDDEN');
    }
  });

  it("answers 404 for unknown jobs, other users' jobs and malformed ids", async () => {
    for (const id of ['nope', 'b-1', 'bad%20id', 'x'.repeat(600)]) {
      const { status, body } = await getJson(`${bridge.baseUrl}/jobs/${id}`, aliceToken);
      expect(status, id).toBe(404);
      expectEnvelope(body, 'NOT_FOUND');
      expect((await getJson(`${bridge.baseUrl}/jobs/${id}/children`, aliceToken)).status).toBe(404);
    }
    expect((await getJson(`${bridge.baseUrl}/sse?jobId=b-1`, aliceToken)).status).toBe(404);
  });

  it('answers 400 for a bad limit or cursor', async () => {
    for (const query of ['limit=0', 'limit=101', 'limit=abc', 'limit=-1', 'limit=2.5', 'cursor=garbage']) {
      const { status, body } = await getJson(`${bridge.baseUrl}/jobs?${query}`, aliceToken);
      expect(status, query).toBe(400);
      expectEnvelope(body, 'VALIDATION_ERROR');
    }
  });

  it('answers 429 with Retry-After and rate-limit headers past the per-user budget', async () => {
    const limited = await startBridge(
      { rateLimit: { requests: 3, perMs: 60_000 } },
      { prefix: bridge.prefix, dropPrefix: false },
    );
    try {
      const statuses: number[] = [];
      let last: Awaited<ReturnType<typeof getJson>> | undefined;
      for (let i = 0; i < 5; i += 1) {
        last = await getJson(`${limited.baseUrl}/jobs/a-1`, aliceToken);
        statuses.push(last.status);
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      expectEnvelope(last?.body ?? {}, 'RATE_LIMIT_EXCEEDED');
      expect(Number(last?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(last?.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(last?.headers.get('x-ratelimit-limit')).toBe('3');
      expect(last?.headers.get('x-ratelimit-remaining')).toBe('0');
      // Another user has a budget of their own.
      const bobToken = await limited.seenn.tokens.issue({ userId: 'bob', ttlSeconds: 60 });
      expect((await getJson(`${limited.baseUrl}/jobs/b-1`, bobToken)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('REST: the authenticate hook', () => {
  it('lets the app decide who the request is for', async () => {
    const hooked = await startBridge(
      {
        auth: {
          authenticate(req) {
            const user = req.headers['x-user'];
            if (user === 'boom') throw new Error('hook exploded');
            if (user === 'weird') return { userId: 42 } as unknown as { userId: string };
            return typeof user === 'string'
              ? { userId: user, ...(req.headers['x-scope'] ? { jobIds: [String(req.headers['x-scope'])] } : {}) }
              : null;
          },
        },
      },
      { prefix: bridge.prefix, dropPrefix: false },
    );
    try {
      expect((await getJson(`${hooked.baseUrl}/jobs/a-1`, undefined, { 'x-user': 'alice' })).status).toBe(200);
      expect((await getJson(`${hooked.baseUrl}/jobs/a-1`, undefined, { 'x-user': 'bob' })).status).toBe(404);
      expect(
        (await getJson(`${hooked.baseUrl}/jobs/a-2`, undefined, { 'x-user': 'alice', 'x-scope': 'a-1' })).status,
      ).toBe(404);
      const refused = await getJson(`${hooked.baseUrl}/jobs/a-1`);
      expect(refused.status).toBe(401);
      expectEnvelope(refused.body, 'UNAUTHORIZED');
      for (const user of ['boom', 'weird']) {
        const failed = await getJson(`${hooked.baseUrl}/jobs/a-1`, undefined, { 'x-user': user });
        expect(failed.status).toBe(500);
        expectEnvelope(failed.body, 'INTERNAL_ERROR');
        expect(JSON.stringify(failed.body)).not.toContain('exploded');
      }
    } finally {
      await hooked.close();
    }
  });
});

describe('logs', () => {
  it('never contain a token, even from a query string', async () => {
    const secretToken = await bridge.seenn.tokens.issue({ userId: 'logged', ttlSeconds: 60 });
    const client = new RawSseClient(bridge.port, `/v1/sse?token=${secretToken}&userId=someone-else`);
    await client.ended;
    expect(client.status).toBe(403);
    await getJson(`${bridge.baseUrl}/jobs/x?token=${secretToken}`);
    await getJson(`${bridge.baseUrl}/jobs/x`, `${secretToken}x`);
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.some((line) => line.includes('token=REDACTED'))).toBe(true);
    for (const line of logLines) expect(line).not.toContain(secretToken.split('.')[2] as string);
  });
});

describe('options', () => {
  it('validates bridge options once, with CONFIG_INVALID', () => {
    expect(Object.isFrozen(BRIDGE_DEFAULTS)).toBe(true);
    for (const bad of [
      { heartbeatMs: -1 },
      { heartbeatMs: 1.5 },
      { maxBufferedBytes: 10 },
      { rateLimit: { requests: 0, perMs: 1 } },
      { auth: { secret: 'short' } },
      { auth: { authenticate: 'no' } },
      { unknown: 1 },
    ]) {
      expect(() => bridge.seenn.bridge(bad as never), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID' }),
      );
    }
  });

  it('needs a secret or a hook', async () => {
    const bare = new Seenn({ connection: connect(), prefix: uniquePrefix('bare') });
    try {
      expect(() => bare.bridge()).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
      await expect(bare.tokens.issue({ userId: 'u' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
      expect(() => bare.bridge({ auth: { secret: SECRET } })).not.toThrow();
    } finally {
      await bare.close();
      await bare.context.redis.quit();
    }
  });

  it('validates token input with VALIDATION_ERROR', async () => {
    for (const bad of [
      { userId: '' },
      { userId: 'u', ttlSeconds: 0 },
      { userId: 'u', ttlSeconds: 1e9 },
      { userId: 'u', jobIds: [] },
      { userId: 'u', jobIds: ['a b'] },
      { userId: 'a\nb' },
    ]) {
      await expect(bridge.seenn.tokens.issue(bad), JSON.stringify(bad)).rejects.toMatchObject({
        code: 'VALIDATION_ERROR',
      });
    }
    const principal = await bridge.seenn.tokens.verify(
      await bridge.seenn.tokens.issue({ userId: 'u', jobIds: ['j1'], ttlSeconds: 30 }),
    );
    expect(principal.userId).toBe('u');
    expect(principal.jobIds).toEqual(['j1']);
    expect(principal.expiresAtMs).toBeGreaterThan(Date.now() + 28_000);
  });
});
