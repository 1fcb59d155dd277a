/**
 * A connect costs one socket write (issue 15): the response head, `connected` and the connect's
 * job.sync or replay leave together, counted at the server's socket (`_write` / `_writev` calls).
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { JobWriter, RawSseClient, startBridge, type TestBridge } from './helpers.js';

let bridge: TestBridge;
let writer: JobWriter;
/** Socket writes per client port. */
const writes = new Map<number, number>();

beforeAll(async () => {
  bridge = await startBridge({ heartbeatMs: 60_000, positionIntervalMs: null });
  writer = new JobWriter(bridge.seenn);
  bridge.server.on('connection', (socket: Socket) => {
    const port = socket.remotePort as number;
    writes.set(port, 0);
    const counted = socket as Socket & { _write: (...args: unknown[]) => void; _writev: (...args: unknown[]) => void };
    const write = counted._write;
    const writev = counted._writev;
    counted._write = function (this: Socket, ...args: unknown[]) {
      writes.set(port, (writes.get(port) ?? 0) + 1);
      return write.apply(this, args);
    };
    counted._writev = function (this: Socket, ...args: unknown[]) {
      writes.set(port, (writes.get(port) ?? 0) + 1);
      return writev.apply(this, args);
    };
  });
});

afterAll(async () => {
  await bridge.close();
});

async function connect(user: string, headers: Record<string, string> = {}): Promise<RawSseClient> {
  const token = await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
  return new RawSseClient(bridge.port, `/v1/sse?token=${token}`, headers);
}

describe('a connect', () => {
  it('writes the head, connected and the replay in one socket write', async () => {
    const first = await writer.create('cw-replay', 'cw-replay-1');
    await writer.progress('cw-replay-1', 10);
    await writer.progress('cw-replay-1', 20);
    const last = await writer.progress('cw-replay-1', 30);
    const client = await connect('cw-replay', { 'Last-Event-ID': first });
    await waitFor(() => client.blocks.some((block) => block.id === last), { what: 'the replay' });
    expect(client.ofType('connected')[0]?.data).toContain('"recovered":true');
    expect(client.ofType('job.progress')).toHaveLength(3);
    expect(writes.get(client.socket.localPort as number)).toBe(1);
    client.close();
  });

  it('writes the head, connected and every job.sync in one socket write', async () => {
    await writer.create('cw-sync', 'cw-sync-1');
    await writer.create('cw-sync', 'cw-sync-2');
    const client = await connect('cw-sync');
    await waitFor(() => client.ofType('job.sync').length === 2, { what: 'the job.sync events' });
    expect(writes.get(client.socket.localPort as number)).toBe(1);
    client.close();
  });

  it('writes a user with nothing to sync its head and connected in one socket write', async () => {
    const client = await connect('cw-empty');
    await waitFor(() => client.ofType('connected').length === 1, { what: 'connected' });
    expect(writes.get(client.socket.localPort as number)).toBe(1);
    client.close();
  });
});
