import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventBuffer } from 'better-sse';
import { formatFrame, frameBytes } from '../../src/bridge/frames.js';
import { waitFor } from '../helpers/wait.js';
import { JobWriter, RawSseClient, RecordingEventSource, startBridge, type TestBridge } from './helpers.js';

let bridge: TestBridge;
let writer: JobWriter;

beforeAll(async () => {
  bridge = await startBridge({ heartbeatMs: 150 });
  writer = new JobWriter(bridge.seenn);
});

afterAll(async () => {
  await bridge.close();
});

describe('SSE framing', () => {
  it('gives the eventsource client connected, job.sync, live job events and heartbeats', async () => {
    const user = 'frame-es';
    await writer.create(user, 'fe-1');
    const token = await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
    const client = new RecordingEventSource(`${bridge.baseUrl}/sse?userId=${user}`, { token });
    try {
      await waitFor(() => client.ofType('job.sync').length === 1, { what: 'job.sync' });
      expect(client.events[0]).toMatchObject({ type: 'connected', data: { userId: user, recovered: false } });
      const sync = client.ofType('job.sync')[0];
      expect(sync?.data).toMatchObject({ id: 'fe-1', jobId: 'fe-1', userId: user, status: 'queued', progress: 0 });
      const id1 = await writer.progress('fe-1', 10, 'ten');
      const id2 = await writer.finish('fe-1');
      await waitFor(() => client.jobEvents().length === 2, { what: 'two live job events' });
      expect(client.jobEvents().map((e) => [e.type, e.id, e.data['progress']])).toEqual([
        ['job.progress', id1, 10],
        ['job.completed', id2, 100],
      ]);
      await waitFor(() => client.ofType('heartbeat').length >= 2, { what: 'heartbeats' });
      expect(typeof client.ofType('heartbeat')[0]?.data['timestamp']).toBe('string');
    } finally {
      client.close();
    }
  });

  it('writes LF-only, named, single-data-line events, each whole in one write, with id: on job events', async () => {
    const user = 'frame-raw';
    await writer.create(user, 'fr-1');
    await writer.create(user, 'fr-2');
    const token = await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
    const raw = new RawSseClient(bridge.port, `/v1/sse?token=${token}`);
    try {
      await waitFor(() => raw.ofType('job.sync').length === 2, { what: 'two job.sync blocks' });
      for (let i = 1; i <= 5; i += 1) await writer.progress('fr-1', i * 10, `step ${i} with "quotes"\nand a newline`);
      await writer.finish('fr-2', 'failed');
      await waitFor(() => raw.ofType('job.progress', 'job.failed').length === 6, { what: 'six live blocks' });
      await waitFor(() => raw.ofType('heartbeat').length >= 1, { what: 'a heartbeat block' });

      expect(raw.status).toBe(200);
      expect(raw.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(raw.headers['cache-control']).toBe('no-cache, no-transform');
      expect(raw.headers['x-accel-buffering']).toBe('no');
      expect(raw.headers['content-encoding']).toBeUndefined();

      // Every write is exactly one whole event: one chunk, one block, ending with the blank line.
      expect(raw.chunks.length).toBeGreaterThanOrEqual(10);
      for (const chunk of raw.chunks) {
        expect(chunk).not.toContain('\r');
        expect(chunk.endsWith('\n\n')).toBe(true);
        expect(chunk.slice(0, -2)).not.toContain('\n\n');
      }
      expect(raw.blocks).toHaveLength(raw.chunks.length);
      for (const block of raw.blocks) {
        expect(block.lines.filter((line) => line.startsWith('event:'))).toHaveLength(1);
        expect(block.lines.filter((line) => line.startsWith('data:'))).toHaveLength(1);
        expect(block.lines.every((line) => /^(event|data|id|retry):/.test(line))).toBe(true);
        expect(() => JSON.parse(block.data ?? '')).not.toThrow();
        if (block.event?.startsWith('job.') && block.event !== 'job.sync') expect(block.id).toMatch(/^\d+-\d+$/);
        if (block.event === 'heartbeat') expect(block.id).toBeUndefined();
      }
      expect(raw.blocks[0]?.event).toBe('connected');
      // With jobs to sync, the cursor goes on the last job.sync, not on `connected`.
      expect(raw.blocks[0]?.id).toBeUndefined();
      expect(Number(raw.blocks[0]?.retry)).toBeGreaterThanOrEqual(50);
      expect(Number(raw.blocks[0]?.retry)).toBeLessThanOrEqual(100);
      const lastSync = raw.ofType('job.sync').at(-1);
      expect(lastSync?.id).toMatch(/^\d+-\d+$/);
      const progress = raw.ofType('job.progress').map((block) => JSON.parse(block.data ?? '{}') as { message: string });
      expect(progress[0]?.message).toBe('step 1 with "quotes"\nand a newline');
    } finally {
      raw.close();
    }
  });

  it('keeps streaming when a middleware has read the request body (Node then closes the request early)', async () => {
    const drained = await startBridge(
      {},
      {
        prefix: bridge.prefix,
        dropPrefix: false,
        beforeRouter: (req, _res, next) => {
          req.resume();
          req.once('end', () => next());
        },
      },
    );
    const user = 'frame-drained';
    await writer.create(user, 'fd-1');
    const token = await drained.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
    const raw = new RawSseClient(drained.port, `/v1/sse?token=${token}`);
    try {
      await waitFor(() => raw.ofType('job.sync').length === 1, { what: 'sync' });
      const id = await writer.progress('fd-1', 5);
      await waitFor(() => raw.ofType('job.progress').length === 1, { what: 'a live event' });
      expect(raw.ofType('job.progress')[0]?.id).toBe(id);
      expect(drained.router.bridge.stats.streams).toBe(1);
    } finally {
      raw.close();
      await drained.close();
    }
  });

  it('gives each stream its own jittered retry hint within [retryMs, retryMs + retryJitterMs]', async () => {
    const token = await bridge.seenn.tokens.issue({ userId: 'frame-retry', ttlSeconds: 60 });
    const clients = Array.from({ length: 8 }, () => new RawSseClient(bridge.port, `/v1/sse?token=${token}`));
    try {
      await waitFor(() => clients.every((client) => client.blocks.length > 0), { what: 'connected on every stream' });
      const hints = clients.map((client) => Number(client.blocks[0]?.retry));
      for (const hint of hints) expect(hint).toBeGreaterThanOrEqual(50);
      for (const hint of hints) expect(hint).toBeLessThanOrEqual(100);
      expect(new Set(hints).size).toBeGreaterThan(1);
    } finally {
      for (const client of clients) client.close();
    }
  });
});

describe('frames', () => {
  it('are byte for byte what better-sse’s EventBuffer writes, encoded once as UTF-8, with their HTTP/1.1 chunk', () => {
    const cases = [
      { event: 'job.progress', id: '1700000000000-3', data: '{"id":"j","message":"é ✓ \\n quoted \\"x\\""}' },
      { event: 'connected', retryMs: 2500, data: '{"userId":"u","recovered":false}' },
      { event: 'connected', id: '1-0', retryMs: 50, data: '{}' },
      { event: 'heartbeat', data: '{"timestamp":"2026-01-01T00:00:00.000Z"}' },
    ];
    for (const parts of cases) {
      const buffer = createEventBuffer({ serializer: (data) => data as string });
      buffer.event(parts.event);
      if (parts.id !== undefined) buffer.id(parts.id);
      if (parts.retryMs !== undefined) buffer.retry(parts.retryMs);
      const expected = buffer.data(parts.data).dispatch().read();
      const frame = formatFrame(parts);
      expect(frame.bytes.toString('utf8')).toBe(expected);
      expect(frame.chunk.toString('utf8')).toBe(`${Buffer.byteLength(expected).toString(16)}\r\n${expected}\r\n`);
      expect(frameBytes(frame)).toBe(Buffer.byteLength(expected));
    }
    // Pretty-printed JSON is put on one line.
    expect(formatFrame({ event: 'x', data: '{\n  "a": 1\n}' }).bytes.toString()).toBe('event:x\ndata:{"a":1}\n\n');
  });
});
