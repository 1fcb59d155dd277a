/**
 * Heartbeats go to silent streams only (issue 15): a stream that carries a job event within
 * `heartbeatMs` gets no heartbeat, and one follows once it has been silent for `heartbeatMs`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { JobWriter, RawSseClient, startBridge, type TestBridge } from './helpers.js';

const HEARTBEAT_MS = 1_000;
let bridge: TestBridge;
let writer: JobWriter;

beforeAll(async () => {
  bridge = await startBridge({ heartbeatMs: HEARTBEAT_MS });
  writer = new JobWriter(bridge.seenn);
});

afterAll(async () => {
  await bridge.close();
});

describe('heartbeats', () => {
  it('skip a stream that carried an event within the interval, and resume once it is silent', async () => {
    const token = await bridge.seenn.tokens.issue({ userId: 'hb-busy', ttlSeconds: 60 });
    const client = new RawSseClient(bridge.port, `/v1/sse?token=${token}`);
    await waitFor(() => client.ofType('connected').length === 1, { what: 'connected' });
    await writer.create('hb-busy', 'hb-job');
    // One event every 50 ms for 3 intervals. Before, that stream got a heartbeat every interval (3);
    // now one comes only if the events stop for most of an interval (a hiccup of this loaded box may
    // cause one, never every interval).
    const startedAt = Date.now();
    let sent = 0;
    while (Date.now() - startedAt < 3 * HEARTBEAT_MS) {
      sent += 1;
      await writer.progress('hb-job', sent % 100);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await waitFor(() => client.ofType('job.progress').length >= sent, { what: 'the progress events' });
    const lastProgress = client.blocks.findLastIndex((block) => block.event === 'job.progress');
    const beatsWhileBusy = client.blocks.slice(0, lastProgress).filter((block) => block.event === 'heartbeat').length;
    expect(beatsWhileBusy).toBeLessThanOrEqual(1);
    // Silent now: heartbeats come again.
    await waitFor(() => client.ofType('heartbeat').length >= 2, { what: 'heartbeats once silent' });
    client.close();
  });
});
