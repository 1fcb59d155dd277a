/**
 * The client against a real bridge: real Redis, a real BullMQ worker and publisher, the bridge on an
 * Express server on port 0. Covers reconnect after a dropped stream, resume without loss or
 * duplicates, the heartbeat watchdog, jittered backoff, the polling fallback, token refresh and a
 * cursor kept across a "page reload".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SeennClient,
  type ConnectedInfo,
  type ConnectionState,
  type JobUpdateSource,
  type RawEvent,
  type ReconnectInfo,
  type SeennClientOptions,
} from '../../src/client/index.js';
import type { SeennClientError } from '../../src/client/errors.js';
import type { SeennJob } from '../../src/model/job.js';
import { waitFor } from '../helpers/wait.js';
import { startHarness, type ClientHarness } from './harness.js';
import { MemoryStorage } from './memory-storage.js';

let h: ClientHarness;
const clients: SeennClient[] = [];

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  for (const client of clients) client.close();
  await h.close();
});

/** Everything a client reports. */
interface Recording {
  jobs: Array<{ job: SeennJob; source: JobUpdateSource }>;
  raw: RawEvent[];
  states: ConnectionState[];
  reconnects: ReconnectInfo[];
  connected: ConnectedInfo[];
  errors: SeennClientError[];
  missing: string[];
}

function makeClient(options: Partial<SeennClientOptions> & { user: string }): { client: SeennClient; rec: Recording } {
  const { user, ...rest } = options;
  const client = new SeennClient({
    baseUrl: h.baseUrl,
    token: () => h.token(user),
    reconnectBaseMs: 20,
    reconnectMaxMs: 200,
    ...rest,
  });
  clients.push(client);
  const rec: Recording = { jobs: [], raw: [], states: [], reconnects: [], connected: [], errors: [], missing: [] };
  client.on('job', (job, source) => rec.jobs.push({ job, source }));
  client.on('event', (event) => rec.raw.push(event));
  client.on('state', (state) => rec.states.push(state));
  client.on('reconnect', (info) => rec.reconnects.push(info));
  client.on('connected', (info) => rec.connected.push(info));
  client.on('error', (error) => rec.errors.push(error));
  client.on('missing', (jobId) => rec.missing.push(jobId));
  return { client, rec };
}

/** Ids of the job events (not `job.sync` snapshots, nor live queue positions) a client received, in order. */
function jobEventIds(rec: Recording): string[] {
  return rec.raw
    .filter((event) => event.event.startsWith('job.') && event.event !== 'job.sync' && !isPositionUpdate(event))
    .map((event) => event.id ?? 'missing-id');
}

/** A live queue position: `job.progress` of a queued job without `id:` (derived, never replayed). */
function isPositionUpdate(event: RawEvent): boolean {
  return (
    event.event === 'job.progress' &&
    event.id === undefined &&
    (JSON.parse(event.data) as { status?: unknown }).status === 'queued'
  );
}

/** A seeded pseudo-random source (LCG), so the jitter test knows each draw. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('SeennClient against a real bridge', () => {
  it('reconnects after the server drops the stream and resumes without loss or duplicates', async () => {
    const user = 'resume-user';
    // SSE only, so the client stays `reconnecting` while the bridge is down (auto would start polling).
    const { client, rec } = makeClient({ user, transport: 'sse' });
    client.connect();
    await waitFor(() => rec.connected.length === 1, { what: 'first connected event' });
    expect(client.state).toBe('open');

    const job = await h.startJob(user, 'Resume me', 6);
    h.allow(job.id, 2);
    await waitFor(() => client.getJob(job.id)?.progress === 33, { what: 'progress 33 live' });

    // The bridge goes away: open streams are cut and new ones answer 503 for a while.
    h.gate = 'down';
    const requestsBefore = h.streamRequests.length;
    h.dropConnections();
    await waitFor(() => h.streamRequests.length >= requestsBefore + 2, { what: 'two refused reconnects' });
    expect(client.state).toBe('reconnecting');
    const cursorAtDrop = client.lastEventId;
    expect(cursorAtDrop).toMatch(/^\d+-\d+$/);

    // Work goes on while the client is away.
    h.allow(job.id, 5);
    await waitFor(async () => (await h.seenn.jobs.get(job.id))?.progress === 83, { what: 'progress 83 in the store' });
    expect(client.getJob(job.id)?.progress).toBe(33);

    h.gate = 'open';
    await waitFor(() => client.getJob(job.id)?.progress === 83, { what: 'missed progress replayed' });
    h.allow(job.id, 6);
    await waitFor(() => client.getJob(job.id)?.status === 'completed', { what: 'completed live' });

    const resumed = h.streamRequests.at(-1);
    expect(resumed?.lastEventIdHeader).toBe(cursorAtDrop);
    expect(resumed?.lastEventIdQuery).toBe(cursorAtDrop);
    expect(rec.connected.at(-1)).toMatchObject({ userId: user, recovered: true });
    expect(rec.reconnects.length).toBeGreaterThanOrEqual(3);
    expect(rec.states).toContain('reconnecting');
    expect(client.state).toBe('open');

    // No loss, no duplicate: the job events received are exactly the user's replay stream, in order.
    const received = jobEventIds(rec);
    expect(new Set(received).size).toBe(received.length);
    expect(received).toEqual(await h.streamIds(user));
    const progress = rec.jobs.filter((entry) => entry.job.id === job.id).map((entry) => entry.job.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress).toContain(50);
    expect(progress).toContain(67);
    expect(client.getJob(job.id)).toMatchObject({ status: 'completed', progress: 100, result: { steps: 6 } });
  });

  it('reconnects when the stream stays silent past heartbeatTimeoutMs and resumes from its cursor', async () => {
    const user = 'silent-user';
    // The harness's bridge sends a heartbeat every 5 s; this client gives up after 300 ms of silence.
    const { client, rec } = makeClient({ user, heartbeatTimeoutMs: 300 });
    const job = await h.startJob(user, 'Quiet job', 2);
    client.connect();
    await waitFor(() => client.getJob(job.id) !== undefined, { what: 'job.sync' });
    await waitFor(() => rec.reconnects.some((info) => info.reason === 'heartbeat-timeout'), {
      what: 'a watchdog reconnect',
    });
    await waitFor(() => rec.connected.length >= 2, { what: 'a second connection' });
    h.allow(job.id, 2);
    await waitFor(() => client.getJob(job.id)?.status === 'completed', {
      what: 'completed after the watchdog reconnect',
    });
    expect(rec.errors).toEqual([]);
    client.close();
  });

  it('keeps the stream when heartbeats arrive in time', async () => {
    const fast = await startHarness({ heartbeatMs: 50 });
    try {
      const user = 'heartbeat-user';
      const client = new SeennClient({
        baseUrl: fast.baseUrl,
        token: () => fast.token(user),
        heartbeatTimeoutMs: 1_000,
      });
      clients.push(client);
      let heartbeats = 0;
      const reconnects: ReconnectInfo[] = [];
      client.on('heartbeat', () => (heartbeats += 1));
      client.on('reconnect', (info) => reconnects.push(info));
      client.connect();
      // 40 heartbeats take ~2 s, well past the 1 s watchdog: only heartbeats kept it from firing.
      await waitFor(() => heartbeats >= 40, { what: '40 heartbeats' });
      expect(reconnects).toEqual([]);
      expect(client.state).toBe('open');
      client.close();
    } finally {
      await fast.close();
    }
  });

  it('spreads reconnects with full jitter: seeded delays within [0, min(max, base·2^n)), applied between attempts', async () => {
    const user = 'jitter-user';
    h.gate = 'down';
    try {
      const random = seeded(42);
      const expectedDraws = seeded(42);
      const token = await h.token(user);
      const { client, rec } = makeClient({
        user,
        token,
        transport: 'sse',
        jitter: 'full',
        reconnectBaseMs: 30,
        reconnectMaxMs: 240,
        maxReconnectAttempts: 7,
        random,
      });
      client.connect();
      await waitFor(() => client.state === 'closed', {
        what: 'the client to give up after 7 reconnects',
        timeoutMs: 15_000,
      });
      expect(rec.errors.at(-1)).toMatchObject({ code: 'RECONNECT_FAILED' });

      const delays = rec.reconnects.map((info) => info.delayMs);
      expect(delays).toHaveLength(7);
      delays.forEach((delay, attempt) => {
        const ceiling = Math.min(240, 30 * 2 ** attempt);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(ceiling);
        expect(delay).toBe(Math.floor(expectedDraws() * ceiling));
      });
      expect(new Set(delays).size).toBeGreaterThan(3);

      // The server saw the first attempt and one per reconnect, each at least its delay after the previous.
      const requests = h.streamRequests.filter((request) => request.authorization === `Bearer ${token}`);
      expect(requests).toHaveLength(8);
      for (let i = 1; i < requests.length; i += 1) {
        const gap = (requests[i]?.atMs ?? 0) - (requests[i - 1]?.atMs ?? 0);
        expect(gap).toBeGreaterThanOrEqual((delays[i - 1] ?? 0) - 1);
      }
    } finally {
      h.gate = 'open';
    }
  });

  it('spreads reconnects with decorrelated jitter from Math.random: within [base, min(max, 3·previous)] and not all equal', async () => {
    const user = 'jitter-decorrelated';
    h.gate = 'down';
    try {
      const { client, rec } = makeClient({
        user,
        transport: 'sse',
        jitter: 'decorrelated',
        reconnectBaseMs: 10,
        reconnectMaxMs: 500,
        maxReconnectAttempts: 8,
      });
      client.connect();
      await waitFor(() => client.state === 'closed', { what: 'the client to give up', timeoutMs: 15_000 });
      const delays = rec.reconnects.map((info) => info.delayMs);
      expect(delays).toHaveLength(8);
      let previous = 10;
      for (const delay of delays) {
        expect(delay).toBeGreaterThanOrEqual(10);
        expect(delay).toBeLessThanOrEqual(Math.min(500, previous * 3));
        previous = Math.max(delay, 10);
      }
      expect(new Set(delays).size).toBeGreaterThan(1);
    } finally {
      h.gate = 'open';
    }
  });

  it('polls GET /jobs/:id while the stream route is missing, stops on a final status or 404, and returns to SSE when it is back', async () => {
    const user = 'poll-user';
    h.gate = 'missing';
    try {
      const { client, rec } = makeClient({ user, pollIntervalMs: 50, sseUnavailableRetryMs: 150 });
      const a = await h.startJob(user, 'Polled A', 2);
      const b = await h.startJob(user, 'Polled B', 3);
      client.watch(a.id);
      client.watch(b.id);
      client.watch('01ZZZZZZZZZZZZZZZZZZZZZZZZ');
      client.connect();
      await waitFor(() => client.state === 'polling', { what: 'polling state' });
      await waitFor(() => rec.missing.includes('01ZZZZZZZZZZZZZZZZZZZZZZZZ'), {
        what: 'the unknown job to answer 404',
      });

      h.allow(a.id, 2);
      await waitFor(() => client.getJob(a.id)?.status === 'completed', { what: 'A completed through polling' });
      expect(
        rec.jobs.some(
          (entry) => entry.job.id === a.id && entry.source.via === 'poll' && entry.job.status === 'completed',
        ),
      ).toBe(true);
      expect(client.isWatching(a.id)).toBe(false);
      const readsOfA = h.jobReads.get(a.id) ?? 0;
      const readsOfMissing = h.jobReads.get('01ZZZZZZZZZZZZZZZZZZZZZZZZ') ?? 0;

      // B is still polled: three more reads of B are three more rounds, none of which asked for A or the 404.
      const readsOfB = h.jobReads.get(b.id) ?? 0;
      h.allow(b.id, 1);
      await waitFor(() => (h.jobReads.get(b.id) ?? 0) >= readsOfB + 3, { what: 'three more polling rounds' });
      await waitFor(() => client.getJob(b.id)?.progress === 33, { what: 'B progress through polling' });
      expect(h.jobReads.get(a.id)).toBe(readsOfA);
      expect(h.jobReads.get('01ZZZZZZZZZZZZZZZZZZZZZZZZ')).toBe(readsOfMissing);
      expect(client.state).toBe('polling');
      expect(h.streamRequests.filter((request) => request.authorization !== undefined).length).toBeGreaterThan(1);

      // The stream route comes back: the client leaves polling and gets B's end over SSE.
      h.gate = 'open';
      await waitFor(() => client.state === 'open', { what: 'back to SSE' });
      h.allow(b.id, 3);
      await waitFor(() => client.getJob(b.id)?.status === 'completed', { what: 'B completed' });
      expect(rec.jobs.find((entry) => entry.job.id === b.id && entry.job.status === 'completed')?.source.via).toBe(
        'sse',
      );
    } finally {
      h.gate = 'open';
    }
  });

  it('asks the token provider again after a 401 and connects with the new token', async () => {
    const user = 'token-user';
    const reasons: string[] = [];
    const { client, rec } = makeClient({
      user,
      token: async ({ reason }) => {
        reasons.push(reason);
        return reasons.length === 1 ? 'expired.or.forged' : h.token(user);
      },
    });
    client.connect();
    await waitFor(() => rec.connected.length === 1, { what: 'connected with the second token' });
    expect(reasons).toEqual(['initial', 'unauthorized']);
    expect(rec.errors[0]).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
    expect(rec.reconnects[0]?.reason).toBe('unauthorized');
  });

  it('stops for good (closed) on a refusal retrying cannot fix, such as a userId that is not the token’s', async () => {
    const token = await h.token('owner');
    const { client, rec } = makeClient({ user: 'owner', token, userId: 'somebody-else' });
    client.connect();
    await waitFor(() => client.state === 'closed', { what: 'closed' });
    expect(rec.errors.at(-1)).toMatchObject({ code: 'FORBIDDEN', status: 403 });
    expect(rec.reconnects).toEqual([]);
  });

  it('resumes after a "page reload" from the cursor kept in storage', async () => {
    const user = 'reload-user';
    const storage = new MemoryStorage();
    const first = makeClient({ user, storage, userId: user });
    const job = await h.startJob(user, 'Survives reloads', 4);
    first.client.connect();
    h.allow(job.id, 1);
    await waitFor(() => first.client.getJob(job.id)?.progress === 25, { what: 'progress 25' });
    const stored = storage.getItem(`seenn:lastEventId:${user}`);
    expect(stored).toBe(first.client.lastEventId);
    first.client.close();

    h.allow(job.id, 3);
    await waitFor(async () => (await h.seenn.jobs.get(job.id))?.progress === 75, { what: 'progress 75 in the store' });

    const second = makeClient({ user, storage, userId: user });
    const firstRequest = h.streamRequests.length;
    second.client.connect();
    await waitFor(() => second.client.getJob(job.id)?.progress === 75, {
      what: 'missed progress replayed after the reload',
    });
    expect(h.streamRequests[firstRequest]?.lastEventIdHeader).toBe(stored);
    expect(second.rec.connected[0]).toMatchObject({ recovered: true });
    const all = await h.streamIds(user);
    const replayed = jobEventIds(second.rec);
    expect(replayed).toEqual(all.slice(all.indexOf(stored ?? '') + 1));
    h.allow(job.id, 4);
    await waitFor(() => second.client.getJob(job.id)?.status === 'completed', { what: 'completed' });
  });

  it('shallow-merges child.progress into the cached parent and reads the children', async () => {
    const user = 'batch-user';
    const { client, rec } = makeClient({ user });
    const updates: Array<{ parentJobId: string; parentProgress: number | undefined }> = [];
    client.on('child.progress', (update, parent) =>
      updates.push({ parentJobId: update.parentJobId, parentProgress: parent?.progress }),
    );
    const batch = await h.startBatch(user, 'Two children', ['first', 'second'], 2);
    const [first, second] = batch.children;
    if (first === undefined || second === undefined) throw new Error('expected two children');
    client.connect();
    await waitFor(() => client.getJob(batch.parent.id) !== undefined, { what: 'the parent' });
    h.allow(first.id, 1);
    await waitFor(() => client.getJob(batch.parent.id)?.progress === 25, {
      what: 'parent progress 25 (average of 50 and 0)',
    });
    expect(updates.at(-1)).toEqual({ parentJobId: batch.parent.id, parentProgress: 25 });
    const merged = client.getJob(batch.parent.id);
    expect(merged).toMatchObject({
      id: batch.parent.id,
      jobId: batch.parent.id,
      title: 'Two children',
      children: { total: 2, running: expect.any(Number) },
    });
    expect(merged).not.toHaveProperty('parentJobId');

    h.allow(first.id, 2);
    h.allow(second.id, 2);
    await waitFor(() => client.getJob(batch.parent.id)?.status === 'completed', { what: 'the parent completed' });
    expect(client.getJob(batch.parent.id)).toMatchObject({
      progress: 100,
      children: { total: 2, completed: 2, failed: 0, running: 0, pending: 0 },
    });
    const listed = await client.fetchChildren(batch.parent.id);
    expect(listed?.children.map((child) => [child.title, child.childIndex, child.status, child.progress])).toEqual([
      ['first', 0, 'completed', 100],
      ['second', 1, 'completed', 100],
    ]);
    expect(await client.fetchChildren('01ZZZZZZZZZZZZZZZZZZZZZZZX')).toBeNull();
    const parentProgress = rec.jobs
      .filter((entry) => entry.job.id === batch.parent.id)
      .map((entry) => entry.job.progress);
    expect(parentProgress).toEqual([...parentProgress].sort((a, b) => a - b));
  });

  it('reads jobs over REST into its cache: one job, a page, and null for an unknown id', async () => {
    const user = 'rest-user';
    const { client, rec } = makeClient({ user });
    const job = await h.startJob(user, 'Read me', 1);
    expect(await client.fetchJob(job.id)).toMatchObject({ id: job.id, jobId: job.id, title: 'Read me' });
    expect(client.getJob(job.id)?.title).toBe('Read me');
    expect(await client.fetchJob('01ZZZZZZZZZZZZZZZZZZZZZZZY')).toBeNull();
    const page = await client.fetchJobs({ limit: 10 });
    expect(page.jobs.map((entry) => entry.id)).toContain(job.id);
    expect(rec.jobs.every((entry) => entry.source.via === 'fetch')).toBe(true);
    h.allow(job.id, 1);
  });
});
