/**
 * Verified tokens are remembered until they expire (`src/bridge/token-cache.ts`, issue 15): a hit
 * gives the same principal, an expired entry is a miss, the cache stays within its bound, and over
 * HTTP a token the bridge accepted (and cached) is refused once it expires.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VerifiedTokenCache } from '../../src/bridge/token-cache.js';
import { waitFor } from '../helpers/wait.js';
import { getJson, startBridge, type TestBridge } from './helpers.js';

describe('VerifiedTokenCache', () => {
  it('answers a verified token until its expiry, then forgets it', () => {
    let now = 1_000;
    const cache = new VerifiedTokenCache(10, () => now);
    const principal = { userId: 'alice', jobIds: ['j-1'], expiresAtMs: 2_000 };
    expect(cache.get('token-a')).toBeNull();
    cache.set('token-a', principal);
    expect(cache.get('token-a')).toEqual(principal);
    expect(cache.get('token-b')).toBeNull();
    now = 1_999;
    expect(cache.get('token-a')).toEqual(principal);
    now = 2_000;
    expect(cache.get('token-a')).toBeNull();
    expect(cache.size).toBe(0);
  });

  it('keeps nothing without an expiry, or already expired', () => {
    const cache = new VerifiedTokenCache(10, () => 5_000);
    cache.set('no-exp', { userId: 'alice' });
    cache.set('expired', { userId: 'alice', expiresAtMs: 5_000 });
    expect(cache.size).toBe(0);
    expect(new VerifiedTokenCache(0, () => 0).get('x')).toBeNull();
  });

  it('holds at most maxEntries, dropping the oldest first', () => {
    const cache = new VerifiedTokenCache(3, () => 0);
    for (const name of ['t1', 't2', 't3', 't4']) cache.set(name, { userId: name, expiresAtMs: 10 });
    expect(cache.size).toBe(3);
    expect(cache.get('t1')).toBeNull();
    expect(cache.get('t4')?.userId).toBe('t4');
    // Setting a kept token again makes it the newest.
    cache.set('t2', { userId: 't2', expiresAtMs: 10 });
    cache.set('t5', { userId: 't5', expiresAtMs: 10 });
    expect(cache.get('t3')).toBeNull();
    expect(cache.get('t2')?.userId).toBe('t2');
  });
});

describe('a cached token over HTTP', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startBridge();
  });
  afterAll(() => bridge.close());

  it('is accepted until it expires, then refused as expired', async () => {
    // `exp` is whole seconds from the issuing second: a token issued late in a second with a 1 s ttl
    // could expire before the first request. Issued early in a second with 2 s, it lives ≥ 1.8 s.
    await waitFor(() => Date.now() % 1000 < 200, { what: 'the start of a second' });
    const token = await bridge.seenn.tokens.issue({ userId: 'cache-user', ttlSeconds: 2 });
    const expMs = (JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as { exp: number })
      .exp;
    expect((await getJson(`${bridge.baseUrl}/jobs`, token)).status).toBe(200);
    // The second answer comes from the cache.
    expect((await getJson(`${bridge.baseUrl}/jobs`, token)).status).toBe(200);
    await waitFor(() => Date.now() >= expMs * 1000, { what: 'the token to expire', timeoutMs: 4_000 });
    const refused = await getJson(`${bridge.baseUrl}/jobs`, token);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ error: { code: 'UNAUTHORIZED', details: { reason: 'expired' } } });
  });
});
