/**
 * A bridge that is shutting down answers a new stream 503 `SHUTTING_DOWN` (its own code, so clients
 * and load balancers can tell it from a server fault).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';
import { startBridge, type TestBridge } from './helpers.js';

let bridge: TestBridge | undefined;
afterEach(async () => {
  await bridge?.close();
  bridge = undefined;
});

describe('a closing bridge', () => {
  it('answers a new stream 503 SHUTTING_DOWN', async () => {
    bridge = await startBridge();
    const token = await bridge.seenn.tokens.issue({ userId: 'alice', ttlSeconds: 60 });
    const headers = { authorization: `Bearer ${token}` };
    expect((await fetch(`${bridge.baseUrl}/sse`, { method: 'HEAD', headers })).status).toBe(200);
    await bridge.router.bridge.close();
    const response = await fetch(`${bridge.baseUrl}/sse`, { headers });
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({
      error: { code: 'SHUTTING_DOWN', message: 'the bridge is shutting down', details: {} },
    });
    expect(ERROR_CODES.SHUTTING_DOWN).toBe(503);
  });
});
