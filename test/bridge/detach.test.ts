/**
 * Streams detached from Node's HTTP server once their head is out (`src/bridge/detach.ts`, issue 15):
 * they keep every protocol behaviour (heartbeats, live events, the final frame and the chunked
 * body's end on close), notice a client that goes or half-closes, still end on
 * `server.closeAllConnections()`, and a request pipelined behind the stream's leaves it attached.
 */
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { JobWriter, RawSseClient, startBridge, type TestBridge } from './helpers.js';

let bridge: TestBridge;
let writer: JobWriter;

beforeAll(async () => {
  bridge = await startBridge({ heartbeatMs: 100 });
  writer = new JobWriter(bridge.seenn);
});

afterAll(async () => {
  await bridge.close();
});

const stats = () => bridge.router.bridge.stats;

async function open(user: string): Promise<RawSseClient> {
  const token = await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
  const client = new RawSseClient(bridge.port, `/v1/sse?token=${token}`);
  await waitFor(() => client.ofType('connected').length === 1, { what: 'connected' });
  return client;
}

describe('a stream detached from the HTTP server', () => {
  it('is detached, beats, delivers live events, and ends its chunked body when the bridge closes it', async () => {
    const before = stats().detachedStreams;
    const client = await open('det-live');
    expect(stats().detachedStreams).toBe(before + 1);
    await waitFor(() => client.ofType('heartbeat').length >= 2, { what: 'heartbeats' });
    const id = await writer.create('det-live', 'det-job-1');
    await waitFor(() => client.ofType('job.started').some((block) => block.id === id), { what: 'the live event' });
    // Every frame is still one whole chunk (one write per event).
    expect(client.chunks.every((chunk) => chunk.endsWith('\n\n'))).toBe(true);
    const streams = stats().streams;
    const session = [
      ...(bridge.router.bridge as unknown as { sessions: Set<{ userId: string; close(reason: string): void }> })
        .sessions,
    ].find((s) => s.userId === 'det-live');
    session?.close('shutdown');
    await client.ended;
    expect(stats().streams).toBe(streams - 1);
    expect(stats().detachedStreams).toBe(before);
  });

  it('closes when its client goes away, or half-closes its socket', async () => {
    const gone = await open('det-gone');
    const half = await open('det-half');
    const streams = stats().streams;
    gone.close();
    await waitFor(() => stats().streams === streams - 1, { what: 'the destroyed client to be noticed' });
    half.socket.end();
    await waitFor(() => stats().streams === streams - 2, { what: 'the half-closed client to be noticed' });
    await half.ended;
  });

  it('still ends on server.closeAllConnections()', async () => {
    const other = await startBridge({ heartbeatMs: 100 });
    try {
      const token = await other.seenn.tokens.issue({ userId: 'det-all', ttlSeconds: 60 });
      const client = new RawSseClient(other.port, `/v1/sse?token=${token}`);
      await waitFor(() => client.ofType('connected').length === 1, { what: 'connected' });
      // A stream whose request came with more bytes in the same packet (the start of another
      // request): the server's parser was still at work on them when the stream started.
      const trailing = net.connect(other.port, '127.0.0.1');
      let received = '';
      trailing.on('data', (data: Buffer) => {
        received += data.toString('latin1');
      });
      trailing.on('error', () => undefined);
      trailing.write(`GET /v1/sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\nGET /v1/jo`);
      await waitFor(() => received.includes('event:connected'), { what: 'connected' });
      expect(other.router.bridge.stats.detachedStreams).toBeGreaterThanOrEqual(1);
      // A stream whose GET announced a body that has not all arrived: it stays on its response.
      const withBody = net.connect(other.port, '127.0.0.1');
      let bodyReceived = '';
      withBody.on('data', (data: Buffer) => {
        bodyReceived += data.toString('latin1');
      });
      withBody.on('error', () => undefined);
      withBody.write(
        `GET /v1/sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Length: 10\r\n\r\nabc`,
      );
      await waitFor(() => bodyReceived.includes('event:connected'), { what: 'connected (body pending)' });
      expect(other.router.bridge.stats.streams).toBe(3);
      expect(other.router.bridge.stats.detachedStreams).toBe(2);
      const withBodyClosed = once(withBody, 'close');
      const trailingClosed = once(trailing, 'close');
      other.server.closeAllConnections();
      await client.ended;
      await trailingClosed;
      await withBodyClosed;
      await waitFor(() => other.router.bridge.stats.streams === 0, { what: 'the stream to close' });
    } finally {
      await other.close();
    }
  });

  it('stays on its response with detachStreams: false (its finish and close reach middleware)', async () => {
    const other = await startBridge({ heartbeatMs: 100, detachStreams: false });
    try {
      const token = await other.seenn.tokens.issue({ userId: 'det-off', ttlSeconds: 60 });
      const client = new RawSseClient(other.port, `/v1/sse?token=${token}`);
      await waitFor(() => client.ofType('heartbeat').length >= 1, { what: 'a heartbeat' });
      expect(other.router.bridge.stats).toMatchObject({ streams: 1, detachedStreams: 0 });
      client.close();
      await waitFor(() => other.router.bridge.stats.streams === 0, { what: 'the stream to close' });
    } finally {
      await other.close();
    }
  });

  it('stays on its response when a request is pipelined behind it', async () => {
    const token = await bridge.seenn.tokens.issue({ userId: 'det-pipe', ttlSeconds: 60 });
    const before = stats().detachedStreams;
    const streams = stats().streams;
    const socket = net.connect(bridge.port, '127.0.0.1');
    let received = '';
    socket.on('data', (data: Buffer) => {
      received += data.toString('latin1');
    });
    const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`;
    socket.write(get('/v1/sse') + get('/v1/jobs'));
    await waitFor(() => received.includes('event:connected'), { what: 'connected' });
    await waitFor(() => received.includes('event:heartbeat'), { what: 'a heartbeat' });
    expect(stats().streams).toBe(streams + 1);
    expect(stats().detachedStreams).toBe(before);
    socket.destroy();
    await waitFor(() => stats().streams === streams, { what: 'the stream to close' });
  });
});
