import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { JobWriter, RawSseClient, RecordingEventSource, startBridge, type TestBridge } from './helpers.js';

const MAX_BUFFERED_BYTES = 256 * 1024;
/** Each event carries this much padding, so socket buffers fill after a few dozen events. */
const PADDING = 'x'.repeat(64 * 1024);

let bridge: TestBridge;
let writer: JobWriter;

beforeAll(async () => {
  bridge = await startBridge({ maxBufferedBytes: MAX_BUFFERED_BYTES, heartbeatMs: 1_000 });
  writer = new JobWriter(bridge.seenn);
});

afterAll(async () => {
  await bridge.close();
});

describe('a client that stops reading', () => {
  it('is disconnected at its buffer bound while the others keep receiving, and recovers by replay', async () => {
    const user = 'slow';
    const token = await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 120 });
    const ids = [await writer.create(user, 'slow-1')];
    const stalled = new RawSseClient(bridge.port, `/v1/sse?token=${token}`);
    const healthy = new RecordingEventSource(`${bridge.baseUrl}/sse`, { token });
    const healthyRaw = new RawSseClient(bridge.port, `/v1/sse?token=${token}`);
    try {
      await waitFor(
        () =>
          stalled.ofType('job.sync').length === 1 &&
          healthy.ofType('job.sync').length === 1 &&
          healthyRaw.ofType('job.sync').length === 1,
        { what: 'three streams' },
      );
      expect(bridge.router.bridge.stats.streams).toBe(3);
      stalled.stall();

      // Write big events until the bridge gives up on the stalled stream (bounded, in case it never does).
      let written = 0;
      while (bridge.router.bridge.stats.slowClientDisconnects === 0 && written < 1_000) {
        ids.push(await writer.progress('slow-1', written % 100, `n${written}`, PADDING));
        written += 1;
      }
      expect(bridge.router.bridge.stats.slowClientDisconnects).toBe(1);
      expect(bridge.router.bridge.stats.streams).toBe(2);
      // The healthy streams keep going after the cut.
      for (let i = 0; i < 5; i += 1) ids.push(await writer.progress('slow-1', i, `after ${i}`, PADDING));
      await waitFor(
        () =>
          healthy.jobEvents().length === ids.length - 1 && healthyRaw.ofType('job.progress').length === ids.length - 1,
        { what: 'every event on the healthy streams', timeoutMs: 20_000 },
      );
      expect(healthy.jobEvents().map((event) => event.id)).toEqual(ids.slice(1));
      expect(healthyRaw.ofType('job.progress').map((block) => block.id)).toEqual(ids.slice(1));

      // The stalled client reads what reached it, then resumes from its cursor and gets the rest once.
      stalled.socket.resume();
      await stalled.ended;
      const got = stalled.ofType('job.progress').map((block) => block.id as string);
      expect(got.length).toBeLessThan(written);
      expect(got).toEqual(ids.slice(1, 1 + got.length));
      const cursor = got.at(-1) ?? (stalled.ofType('job.sync').at(-1)?.id as string);
      const resumed = new RawSseClient(bridge.port, `/v1/sse?token=${token}`, { 'Last-Event-ID': cursor });
      try {
        await waitFor(() => resumed.ofType('job.progress').length === ids.length - 1 - got.length, {
          what: 'the replay of what the stalled client missed',
          timeoutMs: 20_000,
        });
        expect(JSON.parse(resumed.ofType('connected')[0]?.data ?? '{}')).toMatchObject({ recovered: true });
        expect([...got, ...resumed.ofType('job.progress').map((block) => block.id as string)]).toEqual(ids.slice(1));
      } finally {
        resumed.close();
      }
    } finally {
      stalled.close();
      healthy.close();
      healthyRaw.close();
    }
  });
});
