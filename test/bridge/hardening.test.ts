/**
 * Regression tests of the audit's bridge findings (issue 13: 3, 4, 5 and 10): connect budgets and a
 * job.sync that stops when its client leaves; a client that stops reading during the job.sync is cut
 * (drain deadline, expiry); the JSON envelope for malformed request targets; `WWW-Authenticate`,
 * `nosniff` and a cap on token age.
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bridge } from '../../src/bridge/index.js';
import type { JobPage } from '../../src/jobs-api.js';
import type { SeennJob } from '../../src/model/job.js';
import { forgeToken } from '../helpers/forged-token.js';
import { waitFor } from '../helpers/wait.js';
import { JobWriter, RawSseClient, SECRET, getJson, startBridge, type TestBridge } from './helpers.js';

let bridge: TestBridge;
let writer: JobWriter;

beforeAll(async () => {
  bridge = await startBridge({ connectRateLimit: null });
  writer = new JobWriter(bridge.seenn);
  await writer.create('hard-alice', 'ha-1');
});

afterAll(async () => {
  await bridge.close();
});

/** Sends `head` (a whole HTTP/1.1 request head) on a raw socket and returns the response as text. */
async function rawRequest(
  port: number,
  head: string,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.write(head);
  let text = '';
  socket.on('data', (data: Buffer) => {
    text += data.toString('utf8');
  });
  await once(socket, 'close');
  const end = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines)
    headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
  return { status: Number(statusLine.split(' ')[1]), headers, body: text.slice(end + 4) };
}

function expectEnvelope(body: string, code: string): void {
  expect(JSON.parse(body)).toEqual({ error: { code, message: expect.any(String), details: expect.any(Object) } });
}

function token(claims: { sub: string; iat?: number; exp: number }): Promise<string> {
  return forgeToken({ ...claims, secret: SECRET });
}

describe('finding 5: the bridge answers malformed targets with the JSON envelope', () => {
  it('serves a request target in absolute form with an impossible port by its path', async () => {
    const aliceToken = await bridge.seenn.tokens.issue({ userId: 'hard-alice', ttlSeconds: 60 });
    const refused = await rawRequest(
      bridge.port,
      'GET http://a:99999/v1/jobs HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    expect(refused.status).toBe(401);
    expect(refused.headers['content-type']).toMatch(/^application\/json/);
    expectEnvelope(refused.body, 'UNAUTHORIZED');
    const served = await rawRequest(
      bridge.port,
      `GET http://a:99999/v1/jobs/ha-1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${aliceToken}\r\nConnection: close\r\n\r\n`,
    );
    expect(served.status).toBe(200);
    expect(JSON.parse(served.body)).toMatchObject({ id: 'ha-1' });
    const sse = await rawRequest(
      bridge.port,
      'HEAD http://a:99999/v1/sse HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    expect(sse.status).toBe(401);
  });

  it.each(['/v1/jobs/%ZZ', '/v1/jobs/%ZZ/children', '/v1/jobs/%E0%A4%A'])(
    'answers %s with a 400 envelope, not an HTML page',
    async (path) => {
      const response = await rawRequest(bridge.port, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.body).not.toContain('<');
      expect(response.body).not.toMatch(/at .*\.js/);
      expectEnvelope(response.body, 'VALIDATION_ERROR');
    },
  );
});

describe('finding 10: challenges, nosniff, token age', () => {
  it('sends WWW-Authenticate with every 401 and nosniff with every answer', async () => {
    const missing = await getJson(`${bridge.baseUrl}/jobs`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="seenn"');
    expect(missing.headers.get('x-content-type-options')).toBe('nosniff');
    const invalid = await getJson(`${bridge.baseUrl}/jobs`, 'not-a-token');
    expect(invalid.status).toBe(401);
    expect(invalid.headers.get('www-authenticate')).toBe('Bearer realm="seenn", error="invalid_token"');
    const sseRefused = await fetch(`${bridge.baseUrl}/sse`);
    expect(sseRefused.status).toBe(401);
    expect(sseRefused.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const aliceToken = await bridge.seenn.tokens.issue({ userId: 'hard-alice', ttlSeconds: 60 });
    const ok = await getJson(`${bridge.baseUrl}/jobs/ha-1`, aliceToken);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    const stream = new RawSseClient(bridge.port, `/v1/sse?token=${aliceToken}`);
    try {
      await waitFor(() => stream.ofType('connected').length === 1, { what: 'connected' });
      expect(stream.headers['x-content-type-options']).toBe('nosniff');
    } finally {
      stream.close();
    }
  });

  it('refuses tokens older than maxTokenAgeSeconds (default 24 h) whatever their exp, and tokens without iat', async () => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const far = Date.UTC(9999, 0, 1) / 1000;
    const old = await getJson(
      `${bridge.baseUrl}/jobs/ha-1`,
      await token({ sub: 'hard-alice', iat: nowSeconds - 25 * 3600, exp: far }),
    );
    expect(old.status).toBe(401);
    expect((old.body['error'] as { details: unknown }).details).toEqual({ reason: 'expired' });
    const noIat = await getJson(`${bridge.baseUrl}/jobs/ha-1`, await token({ sub: 'hard-alice', exp: far }));
    expect(noIat.status).toBe(401);
    const future = await getJson(
      `${bridge.baseUrl}/jobs/ha-1`,
      await token({ sub: 'hard-alice', iat: far - 3600, exp: far }),
    );
    expect(future.status).toBe(401);
    const fresh = await getJson(
      `${bridge.baseUrl}/jobs/ha-1`,
      await token({ sub: 'hard-alice', iat: nowSeconds - 23 * 3600, exp: far }),
    );
    expect(fresh.status).toBe(200);
  });

  it('ends a stream when its token reaches maxTokenAgeSeconds, even with an exp in year 9999', async () => {
    const capped = await startBridge(
      { maxTokenAgeSeconds: 2, connectRateLimit: null },
      { prefix: bridge.prefix, dropPrefix: false },
    );
    try {
      const nowSeconds = Math.floor(Date.now() / 1000);
      const stream = new RawSseClient(
        capped.port,
        `/v1/sse?token=${await token({ sub: 'hard-alice', iat: nowSeconds, exp: Date.UTC(9999, 0, 1) / 1000 })}`,
      );
      await waitFor(() => stream.ofType('connected').length === 1, { what: 'connected' });
      await stream.ended;
      const error = stream.ofType('error')[0];
      expect(JSON.parse(error?.data ?? '{}')).toMatchObject({ code: 'UNAUTHORIZED' });
    } finally {
      await capped.close();
    }
  });
});

describe('finding 3: connect budgets and a job.sync that stops with its client', () => {
  it('counts GET and HEAD /sse against a per-user connect budget (429 with Retry-After beyond it)', async () => {
    const limited = await startBridge(
      { connectRateLimit: { requests: 3, perMs: 60_000 } },
      { prefix: bridge.prefix, dropPrefix: false },
    );
    try {
      const aliceToken = await limited.seenn.tokens.issue({ userId: 'hard-alice', ttlSeconds: 60 });
      const bobToken = await limited.seenn.tokens.issue({ userId: 'hard-bob', ttlSeconds: 60 });
      const head = (t: string): Promise<Response> =>
        fetch(`${limited.baseUrl}/sse`, { method: 'HEAD', headers: { authorization: `Bearer ${t}` } });
      expect((await head(aliceToken)).status).toBe(200);
      expect((await head(aliceToken)).status).toBe(200);
      const stream = new RawSseClient(limited.port, `/v1/sse?token=${aliceToken}`);
      await waitFor(() => stream.ofType('connected').length === 1, { what: 'the third connect' });
      stream.close();
      const refused = new RawSseClient(limited.port, `/v1/sse?token=${aliceToken}`);
      await refused.ended;
      expect(refused.status).toBe(429);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expectEnvelope(refused.chunks[0] ?? '', 'RATE_LIMIT_EXCEEDED');
      expect((await head(aliceToken)).status).toBe(429);
      // Another user's budget is untouched.
      expect((await head(bobToken)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('reads no further page of the job.sync once the client is gone', async () => {
    const user = 'hard-sync';
    const calls: string[] = [];
    let release: () => void = () => undefined;
    const firstPageGate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const now = new Date().toISOString();
    const fakeJob = (i: number): SeennJob => ({
      id: `hs-${i}`,
      jobId: `hs-${i}`,
      appId: 'default',
      userId: user,
      jobType: 't',
      title: 't',
      status: 'running',
      progress: 1,
      createdAt: now,
      updatedAt: now,
    });
    const reader = {
      async list(_userId: string, options: { limit?: number; cursor?: string } = {}): Promise<JobPage> {
        calls.push(options.cursor ?? 'first');
        if (calls.length === 1) await firstPageGate;
        const page = Number(options.cursor ?? '0');
        return {
          jobs: Array.from({ length: options.limit ?? 100 }, (_, i) => fakeJob(page * 100 + i)),
          nextCursor: String(page + 1),
        };
      },
      async get(): Promise<SeennJob | null> {
        return null;
      },
    };
    const direct = new Bridge(bridge.seenn.context, reader, { connectRateLimit: null, positionIntervalMs: null });
    const handled: Promise<void>[] = [];
    const server = http.createServer((req, res) => {
      handled.push(direct.handleSse(req, res));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const userToken = await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
      const client = new RawSseClient((server.address() as AddressInfo).port, `/sse?token=${userToken}`);
      await waitFor(() => calls.length === 1, { what: 'the first page read' });
      client.close();
      await waitFor(() => direct.stats.streams === 0, { what: 'the stream to close' });
      release();
      await Promise.all(handled);
      expect(calls).toEqual(['first']);
    } finally {
      await direct.close();
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('finding 4: a client that stops reading during the job.sync', () => {
  const user = 'hard-stall';
  const PADDING = 'x'.repeat(100 * 1024);

  beforeAll(async () => {
    // ~10 MB of job.sync: more than the kernel's socket buffers hold for a client that reads nothing.
    for (let i = 0; i < 100; i += 1) {
      await writer.create(user, `hs-${i}`);
      await writer.progress(`hs-${i}`, 1, 'big', PADDING);
    }
  });

  it('is cut when its socket does not drain within drainTimeoutMs', async () => {
    const stalling = await startBridge(
      { drainTimeoutMs: 300, connectRateLimit: null },
      { prefix: bridge.prefix, dropPrefix: false },
    );
    try {
      const client = new RawSseClient(
        stalling.port,
        `/v1/sse?token=${await stalling.seenn.tokens.issue({ userId: user, ttlSeconds: 600 })}`,
      );
      client.stall();
      await waitFor(
        () => stalling.router.bridge.stats.slowClientDisconnects === 1 && stalling.router.bridge.stats.streams === 0,
        { what: 'the stalled stream to be cut' },
      );
      client.close();
    } finally {
      await stalling.close();
    }
  });

  it('is cut when its token expires, even in the middle of the job.sync', async () => {
    const stalling = await startBridge(
      { drainTimeoutMs: 600_000, connectRateLimit: null },
      { prefix: bridge.prefix, dropPrefix: false },
    );
    try {
      const client = new RawSseClient(
        stalling.port,
        `/v1/sse?token=${await stalling.seenn.tokens.issue({ userId: user, ttlSeconds: 2 })}`,
      );
      client.stall();
      await waitFor(() => stalling.router.bridge.stats.streams === 1, { what: 'the stream to open' });
      await waitFor(() => stalling.router.bridge.stats.streams === 0, {
        what: 'the stream to end at its expiry',
        timeoutMs: 8_000,
      });
      client.close();
    } finally {
      await stalling.close();
    }
  });
});
