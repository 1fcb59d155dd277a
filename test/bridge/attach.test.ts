/**
 * `bridge.attach(server)` (issue 15): the bridge's paths served ahead of the Express app answer the
 * same bytes as through Express (REST answers, the stream's head and first events, errors), other
 * paths still reach the app, and a bridge with an `authenticate` hook refuses to attach.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { JobWriter, RawSseClient, startBridge, type TestBridge } from './helpers.js';

let bridge: TestBridge;
let token: string;

beforeAll(async () => {
  // No jitter (both paths must send the same `retry:`), no budget (its remaining count moves).
  bridge = await startBridge({ retryJitterMs: 0, heartbeatMs: 60_000, positionIntervalMs: null, rateLimit: null });
  const writer = new JobWriter(bridge.seenn);
  await writer.create('fast', 'fast-1');
  await writer.create('fast', 'fast-2');
  token = await bridge.seenn.tokens.issue({ userId: 'fast', ttlSeconds: 60 });
});

afterAll(() => bridge.close());

/** One raw HTTP exchange: status line, headers (without Date, X-Powered-By and Connection) and body. */
async function exchange(path: string, init: { method?: string; headers?: Record<string, string> } = {}) {
  const response = await fetch(`http://127.0.0.1:${bridge.port}${path}`, init);
  const headers = [...response.headers.entries()].filter(
    ([name]) => !['date', 'x-powered-by', 'connection', 'keep-alive'].includes(name),
  );
  return {
    status: response.status,
    poweredBy: response.headers.get('x-powered-by'),
    headers: headers.sort(),
    body: await response.text(),
  };
}

/** The head and the first events of a stream, as received. */
async function streamStart(): Promise<{ head: string; events: string[] }> {
  const client = new RawSseClient(bridge.port, `/v1/sse?token=${token}`);
  await waitFor(() => client.ofType('job.sync').length === 2, { what: 'the job.sync events' });
  client.close();
  const head = Object.entries(client.headers)
    .filter(([name]) => !['date', 'x-powered-by', 'connection', 'keep-alive'].includes(name))
    .sort()
    .map(([name, value]) => `${name}: ${value}`)
    .join('\n');
  return { head: `${client.status}\n${head}`, events: client.chunks };
}

const REQUESTS: Array<[string, { method?: string; headers?: Record<string, string> }]> = [
  ['/v1/jobs', { headers: {} }],
  ['/v1/jobs/fast-1', {}],
  ['/v1/jobs/fast-1/children', {}],
  ['/v1/jobs?limit=0', {}],
  ['/v1/jobs/nope-404', {}],
  ['/v1/jobs', { method: 'DELETE' }],
  ['/v1/no/such/route', {}],
  ['/v1/jobs', { method: 'HEAD' }],
];

describe('bridge.attach(server)', () => {
  it('serves the same bytes as the Express path, without Express', async () => {
    const withToken = (init: { method?: string; headers?: Record<string, string> }) => ({
      ...init,
      headers: { ...init.headers, Authorization: `Bearer ${token}` },
    });
    const viaExpress = await Promise.all(REQUESTS.map(([path, init]) => exchange(path, withToken(init))));
    const unauthenticatedViaExpress = await exchange('/v1/jobs');
    const streamViaExpress = await streamStart();
    const detach = bridge.router.bridge.attach(bridge.server, { basePath: '/v1' });
    try {
      const direct = await Promise.all(REQUESTS.map(([path, init]) => exchange(path, withToken(init))));
      for (const [i, answer] of direct.entries()) {
        const { poweredBy: _express, ...same } = viaExpress[i] as (typeof viaExpress)[number];
        const { poweredBy, ...rest } = answer;
        expect(rest, REQUESTS[i]?.[0]).toEqual(same);
        // Express did not see the request (it sets X-Powered-By on everything it answers).
        expect(poweredBy).toBeNull();
      }
      expect(viaExpress.every((answer) => answer.poweredBy === 'Express')).toBe(true);
      const { poweredBy: _a, ...unauthenticated } = await exchange('/v1/jobs');
      const { poweredBy: _b, ...expected } = unauthenticatedViaExpress;
      expect(unauthenticated).toEqual(expected);
      expect(await streamStart()).toEqual(streamViaExpress);
      // Other paths still reach the app.
      expect((await exchange('/elsewhere')).poweredBy).toBe('Express');
    } finally {
      detach();
    }
    expect((await exchange('/v1/jobs', withToken({}))).poweredBy).toBe('Express');
  });

  it('adds the given headers, and refuses a bridge with an authenticate hook', async () => {
    const detach = bridge.router.bridge.attach(bridge.server, {
      basePath: '/v1/',
      headers: { 'Access-Control-Allow-Origin': 'https://app.example' },
    });
    try {
      const answer = await fetch(`http://127.0.0.1:${bridge.port}/v1/jobs`);
      expect(answer.status).toBe(401);
      expect(answer.headers.get('access-control-allow-origin')).toBe('https://app.example');
    } finally {
      detach();
    }
    const hooked = bridge.seenn.bridge({ auth: { authenticate: () => ({ userId: 'x' }) } });
    expect(() => hooked.bridge.attach(http.createServer(), { basePath: '/v1' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
    await hooked.bridge.close();
  });
});
