/**
 * A bridge process is killed with SIGKILL while 100 clients stream from it; they reconnect (through a
 * stand-in load balancer) to a second bridge process with their cursors and end with every event of
 * their user exactly once, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Seenn } from '../../src/seenn.js';
import { connect, deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { spawnBridgePair, type BridgePair } from '../helpers/bridge-pair.js';
import { waitFor } from '../helpers/wait.js';
import { JobWriter, RecordingEventSource, SECRET } from './helpers.js';

const USERS = 10;
const CLIENTS_PER_USER = 10;
const ROUNDS = 30;
const KILL_AFTER_ROUND = 10;

const prefix = uniquePrefix('failover');
const redis = connect();
const seenn = new Seenn({ connection: redis, prefix, tokenSecret: SECRET });
let bridges: BridgePair;

beforeAll(async () => {
  const options = { heartbeatMs: 500, retryMs: 50, retryJitterMs: 100, maxStreamsPerUser: 50 };
  bridges = await spawnBridgePair(redisUrl(), prefix, SECRET, options);
});

afterAll(async () => {
  await bridges?.close();
  await seenn.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('bridge failover', () => {
  it('delivers every event exactly once, in order, across a SIGKILL of the bridge', async () => {
    const writer = new JobWriter(seenn);
    const users = Array.from({ length: USERS }, (_, i) => `fo-user-${i}`);
    for (const user of users) await writer.create(user, `${user}-job`);
    // The "load balancer": every (re)connection goes to the bridge that is up.
    const resolveUrl = bridges.route;
    const clients = new Map<string, RecordingEventSource[]>();
    for (const user of users) {
      const token = await seenn.tokens.issue({ userId: user, ttlSeconds: 300 });
      clients.set(
        user,
        Array.from(
          { length: CLIENTS_PER_USER },
          () =>
            new RecordingEventSource(`http://127.0.0.1:${bridges.first.port}/v1/sse?userId=${user}`, {
              token,
              resolveUrl,
            }),
        ),
      );
    }
    const all = [...clients.values()].flat();
    try {
      expect(all).toHaveLength(100);
      await waitFor(() => all.every((client) => client.ofType('job.sync').length === 1), {
        what: '100 clients synced',
        timeoutMs: 20_000,
      });

      const sent = new Map<string, string[]>(users.map((user) => [user, []]));
      for (let round = 1; round <= ROUNDS; round += 1) {
        for (const user of users) sent.get(user)?.push(await writer.progress(`${user}-job`, round, `round ${round}`));
        if (round === KILL_AFTER_ROUND) {
          // Let the clients take some of the events live from the first bridge, then kill it.
          await waitFor(() => all.every((client) => client.jobEvents().length >= KILL_AFTER_ROUND / 2), {
            what: 'live delivery before the kill',
            timeoutMs: 20_000,
          });
          await bridges.failOver();
        }
      }

      await waitFor(() => all.every((client) => client.jobEvents().length >= ROUNDS), {
        what: 'every event on every client',
        timeoutMs: 30_000,
      });
      let checked = 0;
      for (const [user, userClients] of clients) {
        for (const client of userClients) {
          expect(client.jobEvents().map((event) => event.id)).toEqual(sent.get(user));
          expect(client.jobEvents().map((event) => event.data['progress'])).toEqual(
            Array.from({ length: ROUNDS }, (_, i) => i + 1),
          );
          expect(client.jobEvents().every((event) => event.data['userId'] === user)).toBe(true);
          // It reconnected once, with its cursor, and was recovered.
          expect(client.ofType('connected').map((event) => event.data['recovered'])).toEqual([false, true]);
          checked += 1;
        }
      }
      expect(checked).toBe(USERS * CLIENTS_PER_USER);
    } finally {
      for (const client of all) client.close();
    }
  });
});
