import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareStreamIds } from '../../src/model/wire.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { JobWriter, RawSseClient, RecordingEventSource, getJson, startBridge, type TestBridge } from './helpers.js';

let bridge: TestBridge;
let writer: JobWriter;

beforeAll(async () => {
  bridge = await startBridge({ heartbeatMs: 200 }, { replayMaxEntries: 10 });
  writer = new JobWriter(bridge.seenn);
});

afterAll(async () => {
  await bridge.close();
});

/** Ids of the job events (not job.sync) a raw client received, in order. */
function jobEventIds(client: RawSseClient): string[] {
  return client.blocks
    .filter((block) => block.event?.startsWith('job.') && block.event !== 'job.sync')
    .map((block) => block.id ?? '');
}

function connectedOf(client: RawSseClient): Record<string, unknown> {
  const block = client.ofType('connected')[0];
  return JSON.parse(block?.data ?? '{}') as Record<string, unknown>;
}

describe('replay on reconnect', () => {
  it.each([
    ['the Last-Event-ID header', 'header'],
    ['the lastEventId query parameter', 'query'],
  ])('sends the missed events once, in order, with the cursor in %s', async (_label, where) => {
    const user = `replay-${where}`;
    const token = await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
    await writer.create(user, `${user}-a`);
    const first = new RawSseClient(bridge.port, `/v1/sse?token=${token}`);
    await waitFor(() => first.ofType('job.sync').length === 1, { what: 'first sync' });
    const seen = [await writer.progress(`${user}-a`, 1), await writer.progress(`${user}-a`, 2)];
    await waitFor(() => jobEventIds(first).length === 2, { what: 'two live events' });
    expect(jobEventIds(first)).toEqual(seen);
    first.close();
    await first.ended;

    const missed = [];
    for (let i = 3; i <= 7; i += 1) missed.push(await writer.progress(`${user}-a`, i));
    const cursor = seen[1] as string;
    const second =
      where === 'header'
        ? new RawSseClient(bridge.port, `/v1/sse?token=${token}`, { 'Last-Event-ID': cursor })
        : new RawSseClient(bridge.port, `/v1/sse?token=${token}&lastEventId=${encodeURIComponent(cursor)}`);
    try {
      await waitFor(() => jobEventIds(second).length === missed.length, { what: 'the missed events' });
      const live = await writer.progress(`${user}-a`, 8);
      await waitFor(() => jobEventIds(second).length === missed.length + 1, { what: 'the next live event' });
      expect(connectedOf(second)).toEqual({ userId: user, recovered: true });
      expect(second.ofType('job.sync')).toHaveLength(0);
      expect(jobEventIds(second)).toEqual([...missed, live]);
      expect(
        second.ofType('job.progress').map((block) => (JSON.parse(block.data ?? '{}') as { progress: number }).progress),
      ).toEqual([3, 4, 5, 6, 7, 8]);
    } finally {
      second.close();
    }
  });

  it('lets the eventsource client resume by itself after the server drops it', async () => {
    const user = 'replay-es';
    const token = await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
    await writer.create(user, 'res-1');
    const client = new RecordingEventSource(`${bridge.baseUrl}/sse`, { token });
    try {
      await waitFor(() => client.ofType('job.sync').length === 1, { what: 'sync' });
      const ids = [await writer.progress('res-1', 1)];
      await waitFor(() => client.jobEvents().length === 1, { what: 'first live event' });
      // Drop every connection of the server: the client reconnects with Last-Event-ID by itself.
      bridge.server.closeAllConnections();
      for (let i = 2; i <= 6; i += 1) ids.push(await writer.progress('res-1', i));
      await waitFor(() => client.jobEvents().length === ids.length, { what: 'every event after the reconnect' });
      expect(client.jobEvents().map((event) => event.id)).toEqual(ids);
      expect(client.opens).toBeGreaterThanOrEqual(2);
      expect(client.ofType('connected').map((event) => event.data['recovered'])).toEqual([false, true]);
    } finally {
      client.close();
    }
  });
});

describe('unrecoverable cursors', () => {
  it.each(['garbage', '1-2-3', '12-', '-5', '99999999999999999999-0', '1700000000000-0x'])(
    'answers cursor %j with recovered:false and job.sync, never an error',
    async (cursor) => {
      const user = `garbage-${cursor.length}-${cursor.replace(/[^a-z0-9]/gi, '')}`;
      const token = await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
      await writer.create(user, `${user}-live`);
      const client = new RawSseClient(bridge.port, `/v1/sse?token=${token}`, { 'Last-Event-ID': cursor });
      try {
        await waitFor(() => client.ofType('job.sync').length === 1, { what: 'sync' });
        expect(client.status).toBe(200);
        expect(connectedOf(client)).toEqual({ userId: user, recovered: false });
        expect(client.ofType('error')).toHaveLength(0);
      } finally {
        client.close();
      }
    },
  );

  it('replays a backlog of several pages (450 entries, 200 a page) once, in order, then goes live', async () => {
    const own = await startBridge({ heartbeatMs: 200 }, { replayMaxEntries: 1_000 });
    try {
      const ownWriter = new JobWriter(own.seenn);
      const user = 'replay-pages';
      const token = await own.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
      await ownWriter.create(user, 'pages-a');
      const first = new RawSseClient(own.port, `/v1/sse?token=${token}`);
      await waitFor(() => first.ofType('job.sync').length === 1, { what: 'first sync' });
      const cursor = await ownWriter.progress('pages-a', 0);
      await waitFor(() => jobEventIds(first).length === 1, { what: 'one live event' });
      first.close();
      await first.ended;

      const missed: string[] = [];
      for (let i = 1; i <= 450; i += 1) missed.push(await ownWriter.progress('pages-a', i % 100, `m${i}`));
      const second = new RawSseClient(own.port, `/v1/sse?token=${token}`, { 'Last-Event-ID': cursor });
      try {
        await waitFor(() => jobEventIds(second).length === missed.length, { what: 'the 450 missed events' });
        const live = await ownWriter.progress('pages-a', 99, 'live');
        await waitFor(() => jobEventIds(second).length === missed.length + 1, { what: 'the next live event' });
        expect(connectedOf(second)).toEqual({ userId: user, recovered: true });
        expect(jobEventIds(second)).toEqual([...missed, live]);
      } finally {
        second.close();
      }
    } finally {
      await own.close();
    }
  });

  it('treats a cursor newer than the stream as unknown', async () => {
    const user = 'future-cursor';
    const token = await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
    await writer.create(user, 'fc-1');
    const client = new RawSseClient(bridge.port, `/v1/sse?token=${token}&lastEventId=${Date.now() + 3_600_000}-0`);
    try {
      await waitFor(() => client.ofType('job.sync').length === 1, { what: 'sync' });
      expect(connectedOf(client)['recovered']).toBe(false);
    } finally {
      client.close();
    }
  });

  it('answers a trimmed cursor with recovered:false, the live jobs and the jobs finished since the cursor', async () => {
    const user = 'trimmed';
    const token = await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
    const cursor = await writer.create(user, 'tr-done');
    await writer.create(user, 'tr-live');
    await writer.finish('tr-done');
    // replayMaxEntries is 10 (trimmed approximately, by whole nodes of 100 entries): write enough to trim.
    for (let i = 0; i < 350; i += 1) await writer.progress('tr-live', i % 100);
    const first = await bridge.seenn.context.store.firstStreamId(user);
    expect(first !== null && first > cursor).toBe(true);
    const client = new RawSseClient(bridge.port, `/v1/sse?token=${token}`, { 'Last-Event-ID': cursor });
    try {
      await waitFor(() => client.ofType('job.sync').length === 2, { what: 'two job.sync' });
      expect(connectedOf(client)['recovered']).toBe(false);
      const synced = client
        .ofType('job.sync')
        .map((block) => JSON.parse(block.data ?? '{}') as { id: string; status: string });
      expect(synced.map((job) => [job.id, job.status])).toEqual([
        ['tr-done', 'completed'],
        ['tr-live', 'running'],
      ]);
      // The last job.sync carries the stream's newest id: a reconnect with it recovers.
      const last = await bridge.seenn.context.store.lastStreamId(user);
      expect(client.ofType('job.sync').at(-1)?.id).toBe(last);
      expect(jobEventIds(client)).toEqual([]);
      const next = await writer.progress('tr-live', 99);
      await waitFor(() => jobEventIds(client).length === 1, { what: 'a live event after the sync' });
      expect(jobEventIds(client)).toEqual([next]);
    } finally {
      client.close();
    }
  });

  /** Gives `user` a running job `<prefix>-live`, then five newer finished ones `<prefix>-0` … `<prefix>-4`. */
  async function liveBehindFiveFinished(user: string, prefix: string): Promise<void> {
    await writer.create(user, `${prefix}-live`);
    await writer.progress(`${prefix}-live`, 5);
    for (let i = 0; i < 5; i += 1) {
      await writer.create(user, `${prefix}-${i}`);
      await writer.finish(`${prefix}-${i}`);
    }
  }

  /**
   * Connects `user` to a bridge with `syncMaxJobs: 3` (and `options`) and answers the `count` job.sync
   * it sends as [id, status].
   */
  async function syncedWithMaxJobs3(
    user: string,
    count: number,
    options: { syncFinishedWithinMs?: number } = {},
  ): Promise<[string, string][]> {
    const small = await startBridge(
      { heartbeatMs: 200, syncMaxJobs: 3, ...options },
      { prefix: bridge.prefix, dropPrefix: false },
    );
    const token = await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
    const client = new RawSseClient(small.port, `/v1/sse?token=${token}`);
    try {
      await waitFor(() => client.ofType('job.sync').length === count, { what: `${count} job.sync` });
      expect(client.ofType('job.sync').at(-1)?.id).toBe(await bridge.seenn.context.store.lastStreamId(user));
      return client
        .ofType('job.sync')
        .map((block) => JSON.parse(block.data ?? '{}') as { id: string; status: string })
        .map((job) => [job.id, job.status]);
    } finally {
      client.close();
      await small.close();
    }
  }

  it('syncs on a fresh connect the unfinished jobs and the syncMaxJobs latest to finish, from the job indexes', async () => {
    const user = 'deep-history';
    await liveBehindFiveFinished(user, 'dh');
    // Oldest first: the live one, then the three that finished last.
    expect(await syncedWithMaxJobs3(user, 4)).toEqual([
      ['dh-live', 'running'],
      ['dh-2', 'completed'],
      ['dh-3', 'completed'],
      ['dh-4', 'completed'],
    ]);
  });

  it('syncs a job that finished recently however many jobs were created after it', async () => {
    const user = 'recently-finished';
    await writer.create(user, 'rf-old');
    for (let i = 1; i <= 3; i += 1) await writer.create(user, `rf-${i}`);
    await writer.finish('rf-old');
    // Read from the job list, the three newest jobs (all unfinished) hide it.
    expect(await syncedWithMaxJobs3(user, 4)).toEqual([
      ['rf-old', 'completed'],
      ['rf-1', 'queued'],
      ['rf-2', 'queued'],
      ['rf-3', 'queued'],
    ]);
  });

  it('syncs a job an older writer left unfinished (not in the unfinished-job index) after the indexes began', async () => {
    const user = 'legacy-waiting';
    await writer.create(user, 'lw-old');
    // What a job stored by a writer from before both indexes looks like.
    const { keys } = bridge.seenn.context.store;
    await bridge.redis.hdel(keys.job(user, 'lw-old'), 'o');
    await bridge.redis.zrem(keys.openJobs(user), 'lw-old');
    await bridge.redis.del(keys.finishedJobs(user));
    // This version's first write for the user starts the indexes.
    await writer.create(user, 'lw-new');
    // With syncFinishedWithinMs 0 the window starts now: an index trusted from now on would answer.
    expect(await syncedWithMaxJobs3(user, 2, { syncFinishedWithinMs: 0 })).toEqual([
      ['lw-old', 'queued'],
      ['lw-new', 'queued'],
    ]);
  });

  it('reads the job list for a user whose jobs were written before the finished-job index, live jobs older than syncMaxJobs included', async () => {
    const user = 'legacy-history';
    await liveBehindFiveFinished(user, 'lh');
    // What a user written before the index existed looks like.
    await bridge.redis.del(bridge.seenn.context.store.keys.finishedJobs(user));
    // The three newest (finished just now), then the live one behind them.
    expect(await syncedWithMaxJobs3(user, 4)).toEqual([
      ['lh-2', 'completed'],
      ['lh-3', 'completed'],
      ['lh-4', 'completed'],
      ['lh-live', 'running'],
    ]);
  });

  it('ends a live stream with REPLAY_GAP when what it missed was trimmed before it could catch up', async () => {
    const user = 'gap';
    const token = await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
    await writer.create(user, 'gap-1');
    const client = new RawSseClient(bridge.port, `/v1/sse?token=${token}`);
    try {
      await waitFor(() => client.ofType('job.sync').length === 1, { what: 'the sync' });
      // The hub's subscriber connection (private): a partition is its going away and coming back.
      const subscriber = (
        bridge.router.bridge as unknown as {
          hub: { subscription: { connection: { disconnect(reconnect: boolean): void; connect(): Promise<void> } } };
        }
      ).hub.subscription.connection;
      const handled = await writer.progress('gap-1', 1);
      await waitFor(() => jobEventIds(client).length === 1, { what: 'a live event' });
      expect(jobEventIds(client)).toEqual([handled]);
      // The subscription goes, and stays gone while the user's events pass the replay stream's bound
      // (replayMaxEntries 10, trimmed by whole nodes of 100 entries): those after the stream's cursor
      // are published to no one, then trimmed.
      subscriber.disconnect(false);
      await waitFor(() => !bridge.router.bridge.stats.hub.subscribed, { what: 'the subscription to go' });
      for (let i = 0; i < 350; i += 1) await writer.progress('gap-1', i % 100);
      const oldest = await bridge.seenn.context.store.firstStreamId(user);
      expect(oldest !== null && compareStreamIds(oldest, handled) > 0).toBe(true);
      // Back: the stream catches up from its cursor, finds the events after it trimmed, and ends.
      await subscriber.connect();
      await waitFor(() => client.ofType('error').length > 0, { what: 'the error event' });
      await client.ended;
      expect(client.ofType('error').map((block) => JSON.parse(block.data ?? '{}') as unknown)).toEqual([
        {
          code: 'REPLAY_GAP',
          message: 'events were trimmed before this stream could send them; reconnect to resynchronise',
        },
      ]);
      expect(jobEventIds(client)).toEqual([handled]);
      expect(client.ofType('error')[0]?.id).toBeUndefined();
    } finally {
      client.close();
    }
    // Reconnecting with the last id it got resynchronises: recovered:false and a job.sync.
    const again = new RawSseClient(bridge.port, `/v1/sse?token=${token}`, {
      'Last-Event-ID': jobEventIds(client).at(-1) ?? '',
    });
    try {
      await waitFor(() => again.ofType('job.sync').length === 1, { what: 'the resync' });
      expect(connectedOf(again)['recovered']).toBe(false);
    } finally {
      again.close();
    }
  });

  it('puts the cursor on connected when there is nothing to sync', async () => {
    const user = 'nothing-to-sync';
    const token = await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
    const ownWriter = new JobWriter(bridge.seenn);
    await ownWriter.create(user, 'nts-1');
    const last = await ownWriter.finish('nts-1');
    // With syncFinishedWithinMs 0, a job finished before the connect is not synced.
    const finishedAtMs = Date.parse(ownWriter.job('nts-1').completedAt ?? '');
    await waitFor(() => Date.now() > finishedAtMs, { what: 'the clock to pass the finish time' });
    const fresh = await startBridge({ syncFinishedWithinMs: 0 }, { prefix: bridge.prefix, dropPrefix: false });
    const client = new RawSseClient(fresh.port, `/v1/sse?token=${token}`);
    try {
      await waitFor(() => client.ofType('connected').length === 1, { what: 'connected' });
      expect(client.ofType('connected')[0]?.id).toBe(last);
      expect(client.ofType('job.sync')).toHaveLength(0);
    } finally {
      client.close();
      await fresh.close();
    }
  });
});

describe('the seam between replay and live', () => {
  it('never loses or repeats an event while changes stream in during connects', async () => {
    // Default retention here: nothing is trimmed, so every cursor stays recoverable.
    const seam = await startBridge();
    const seamWriter = new JobWriter(seam.seenn);
    const user = 'seam';
    const token = await seam.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
    const ids: string[] = [await seamWriter.create(user, 'seam-1')];
    const clients: { client: RawSseClient; cursor: string | null }[] = [];
    // Each client connects while 25 changes are being committed: half with a cursor (replay path),
    // half without (sync path).
    for (let k = 0; k < 12; k += 1) {
      const cursor = k % 2 === 0 ? (ids[Math.max(0, ids.length - 5)] as string) : null;
      const headers: Record<string, string> = cursor === null ? {} : { 'Last-Event-ID': cursor };
      clients.push({ client: new RawSseClient(seam.port, `/v1/sse?token=${token}`, headers), cursor });
      for (let i = 0; i < 25; i += 1) ids.push(await seamWriter.progress('seam-1', (k * 25 + i) % 100, `n${k}-${i}`));
    }
    const lastId = ids.at(-1) as string;
    try {
      for (const { client, cursor } of clients) {
        await waitFor(() => jobEventIds(client).at(-1) === lastId, { what: 'the last event on every client' });
        const got = jobEventIds(client);
        // The starting point: the client's own cursor, or the cursor given with its job.sync.
        expect(connectedOf(client)['recovered']).toBe(cursor !== null);
        const start = cursor ?? client.ofType('job.sync').at(-1)?.id ?? client.ofType('connected')[0]?.id;
        expect(start).toBeDefined();
        expect(got).toEqual(ids.slice(ids.indexOf(start as string) + 1));
      }
    } finally {
      for (const { client } of clients) client.close();
      await seam.close();
    }
  });
});

describe('hub resubscription', () => {
  let server: RedisServer;
  let own: TestBridge;

  beforeAll(async () => {
    server = await startRedisServer();
    own = await startBridge({}, { redisUrl: server.url });
  });

  afterAll(async () => {
    await own.close();
    await server.stop();
  });

  it('catches up from the replay stream what Pub/Sub dropped while the subscriber reconnected', async () => {
    const ownWriter = new JobWriter(own.seenn);
    const user = 'resub';
    const token = await own.seenn.tokens.issue({ userId: user, ttlSeconds: 60 });
    const ids = [await ownWriter.create(user, 'rs-1')];
    const client = new RawSseClient(own.port, `/v1/sse?token=${token}`);
    const admin = new Redis(server.url);
    try {
      await waitFor(() => client.ofType('job.sync').length === 1, { what: 'sync' });
      expect(own.router.bridge.stats.hub.subscriptions).toBe(1);
      for (let round = 0; round < 3; round += 1) {
        const killed = Number(await admin.client('KILL', 'TYPE', 'pubsub'));
        expect(killed).toBe(1);
        // Published while the hub's subscriber is down: only the catch-up can deliver these.
        for (let i = 0; i < 5; i += 1) ids.push(await ownWriter.progress('rs-1', round * 10 + i));
        await waitFor(() => own.router.bridge.stats.hub.subscriptions === round + 2, { what: 'the resubscription' });
        for (let i = 5; i < 8; i += 1) ids.push(await ownWriter.progress('rs-1', round * 10 + i));
      }
      await waitFor(() => jobEventIds(client).length === ids.length - 1, { what: 'every event' });
      expect(jobEventIds(client)).toEqual(ids.slice(1));
    } finally {
      client.close();
      await admin.quit();
    }
  });
});

describe('stream lifetime', () => {
  it('sends connection.idle and closes a stream idle for idleTimeoutMs; the client may come back', async () => {
    const idle = await startBridge(
      { idleTimeoutMs: 300, heartbeatMs: 100 },
      { prefix: bridge.prefix, dropPrefix: false },
    );
    const token = await idle.seenn.tokens.issue({ userId: 'idle-user', ttlSeconds: 60 });
    const client = new RawSseClient(idle.port, `/v1/sse?token=${token}`);
    try {
      await client.ended;
      const last = client.blocks.at(-1);
      expect(last?.event).toBe('connection.idle');
      const data = JSON.parse(last?.data ?? '{}') as { reason: string; idleTime: number };
      expect(typeof data.reason).toBe('string');
      expect(data.idleTime).toBeGreaterThanOrEqual(300);
      expect(client.ofType('heartbeat').length).toBeGreaterThanOrEqual(1);
    } finally {
      client.close();
      await idle.close();
    }
  });

  it('ends a stream when its token expires, with an error event', async () => {
    const token = await bridge.seenn.tokens.issue({ userId: 'expiring', ttlSeconds: 2 });
    const client = new RawSseClient(bridge.port, `/v1/sse?token=${token}`);
    await waitFor(() => client.ofType('connected').length === 1, { what: 'connected' });
    await client.ended;
    const last = client.blocks.at(-1);
    expect(last?.event).toBe('error');
    expect(JSON.parse(last?.data ?? '{}')).toMatchObject({ code: 'UNAUTHORIZED' });
    // The same token is refused from now on.
    const again = await getJson(`${bridge.baseUrl}/jobs`, token);
    expect(again.status).toBe(401);
  });

  it('caps open streams per user with 429 TOO_MANY_STREAMS, and frees the slot on close', async () => {
    const capped = await startBridge({ maxStreamsPerUser: 2 }, { prefix: bridge.prefix, dropPrefix: false });
    const token = await capped.seenn.tokens.issue({ userId: 'capped', ttlSeconds: 60 });
    const open = [
      new RawSseClient(capped.port, `/v1/sse?token=${token}`),
      new RawSseClient(capped.port, `/v1/sse?token=${token}`),
    ];
    try {
      await waitFor(() => open.every((client) => client.ofType('connected').length === 1), { what: 'two streams' });
      const refused = await getJson(`${capped.baseUrl}/sse?token=${token}`);
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({
        error: { code: 'TOO_MANY_STREAMS', message: expect.any(String), details: { limit: 2 } },
      });
      const other = await capped.seenn.tokens.issue({ userId: 'capped-other', ttlSeconds: 60 });
      const otherClient = new RawSseClient(capped.port, `/v1/sse?token=${other}`);
      await waitFor(() => otherClient.ofType('connected').length === 1, { what: 'another user is not capped' });
      otherClient.close();
      open[0]?.close();
      await waitFor(() => capped.router.bridge.stats.streams === 1, { what: 'the slot to free' });
      const third = new RawSseClient(capped.port, `/v1/sse?token=${token}`);
      await waitFor(() => third.ofType('connected').length === 1, { what: 'a stream in the freed slot' });
      open.push(third);
    } finally {
      for (const client of open) client.close();
      await capped.close();
    }
  });

  it('ends every stream on seenn.close(), idempotently', async () => {
    const closing = await startBridge({}, { prefix: bridge.prefix, dropPrefix: false });
    const token = await closing.seenn.tokens.issue({ userId: 'closer', ttlSeconds: 60 });
    const clients = [
      new RawSseClient(closing.port, `/v1/sse?token=${token}`),
      new RawSseClient(closing.port, `/v1/sse?token=${token}`),
    ];
    await waitFor(() => clients.every((client) => client.ofType('connected').length === 1), { what: 'streams' });
    await waitFor(() => closing.router.bridge.stats.hub.subscribed, { what: 'the hub subscription' });
    await Promise.all([closing.seenn.close(), closing.seenn.close()]);
    await Promise.all(clients.map((client) => client.ended));
    expect(closing.router.bridge.stats).toMatchObject({ streams: 0, hub: { subscribed: false, listeners: 0 } });
    await closing.close();
  });
});
