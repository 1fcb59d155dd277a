/**
 * `seenn.close()` on an instance that runs a bridge returns promptly while its Redis hangs (SIGSTOP:
 * sockets stay open, nothing answers): the bridge's stream-read connection, the hub's subscriber and
 * the rest are closed with a bounded grace instead of a QUIT that waits for a reply forever.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { RecordingEventSource, startBridge, type TestBridge } from './helpers.js';

/** The failure condition: close must settle well within this. */
const CLOSE_LIMIT_MS = 10_000;
let server: RedisServer | undefined;
let bridge: TestBridge | undefined;

afterEach(async () => {
  server?.process.kill('SIGCONT');
  await bridge?.close();
  await server?.stop(1_000);
  server = bridge = undefined;
});

describe('seenn.close() with a bridge while Redis hangs', () => {
  it('settles within the limit after a stream read over the stream-read connection', { timeout: 30_000 }, async () => {
    server = await startRedisServer();
    bridge = await startBridge({}, { redisUrl: server.url });
    const token = await bridge.seenn.tokens.issue({ userId: 'hana', ttlSeconds: 600 });
    const client = new RecordingEventSource(`${bridge.baseUrl}/sse`, { token });
    try {
      await waitFor(() => client.ofType('connected').length > 0, {
        what: 'the stream to connect (its reads use the stream-read connection)',
      });
    } finally {
      client.source.close();
    }
    server.process.kill('SIGSTOP');
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      bridge.seenn.close().then(() => 'closed'),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('still waiting'), CLOSE_LIMIT_MS);
      }),
    ]);
    clearTimeout(timer);
    expect(settled).toBe('closed');
  });
});
