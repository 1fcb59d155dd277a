/**
 * Live queue positions through the bridge: real BullMQ jobs (`seenn.jobs.start`), the real publisher
 * and a real worker, the bridge on a real HTTP server, raw-socket and `eventsource` clients. A tap
 * in front of the bridge records when each frame is written, to check the interval server-side.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type express from 'express';
import { Worker } from 'bullmq';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SeennJob } from '../../src/model/job.js';
import { PositionWatcher } from '../../src/position/index.js';
import { connect, deletePrefix, redisUrl, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { RawSseClient, RecordingEventSource, startBridge, type RawBlock, type TestBridge } from './helpers.js';

const INTERVAL_MS = 100;
/** Jobs ahead of the watched one in the countdown test. */
const AHEAD = 8;

/** Promises a worker waits on, opened by the test one job at a time. */
class Gates {
  private readonly gates = new Map<string, { promise: Promise<void>; open: () => void }>();

  /** Resolves once `id` is opened. */
  wait(id: string): Promise<void> {
    return this.gate(id).promise;
  }

  open(id: string): void {
    this.gate(id).open();
  }

  openAll(): void {
    for (const gate of this.gates.values()) gate.open();
  }

  private gate(id: string): { promise: Promise<void>; open: () => void } {
    let gate = this.gates.get(id);
    if (gate === undefined) {
      let open = (): void => undefined;
      const promise = new Promise<void>((resolve) => {
        open = resolve;
      });
      gate = { promise, open };
      this.gates.set(id, gate);
    }
    return gate;
  }
}

/** One `write()` of a stream, as the server made it. */
interface TappedWrite {
  atMs: number;
  text: string;
}

/** Records the writes of streams whose URL has `tap=<name>`, by name. */
function writeTap(writes: Map<string, TappedWrite[]>): express.RequestHandler {
  return (req, res, next) => {
    const name = new URL(req.url, 'http://x').searchParams.get('tap');
    if (name !== null) {
      const list: TappedWrite[] = [];
      writes.set(name, list);
      const write = res.write.bind(res) as (...args: unknown[]) => boolean;
      res.write = ((chunk: unknown, ...rest: unknown[]) => {
        list.push({
          atMs: Date.now(),
          text: typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'),
        });
        return write(chunk, ...rest);
      }) as typeof res.write;
    }
    next();
  };
}

/** Position updates: `job.progress` blocks without `id:`. */
function positionBlocks(client: RawSseClient, jobId?: string): RawBlock[] {
  return client
    .ofType('job.progress')
    .filter((block) => block.id === undefined && (jobId === undefined || jobOf(block).id === jobId));
}

function jobOf(block: RawBlock): SeennJob {
  return JSON.parse(block.data ?? '{}') as SeennJob;
}

let bridge: TestBridge;
const writes = new Map<string, TappedWrite[]>();

beforeAll(async () => {
  bridge = await startBridge({ positionIntervalMs: INTERVAL_MS, heartbeatMs: 200 }, { beforeRouter: writeTap(writes) });
});

afterAll(async () => {
  await bridge?.close();
});

describe('live queue positions', () => {
  it('counts a watched job down as a worker takes the jobs ahead, without id:, at most once per interval; only its watchers get them', async () => {
    const { seenn } = bridge;
    const queueName = 'pos-countdown';
    const user = 'pos-a';
    const publisher = seenn.publisher({ queues: [queueName], blockMs: 100, leaseMs: 2_000 });
    await publisher.start();
    const ahead: SeennJob[] = [];
    for (let i = 0; i < AHEAD; i += 1)
      ahead.push(
        await seenn.jobs.start({ queue: queueName, userId: 'pos-ahead', jobType: 'render', title: `Ahead ${i}` }),
      );
    const watched = await seenn.jobs.start({ queue: queueName, userId: user, jobType: 'render', title: 'Mine' });
    // Another job of the same user, in a queue nobody works: queued, its position never changes.
    const idle = await seenn.jobs.start({ queue: 'pos-idle', userId: user, jobType: 'render', title: 'Idle' });
    // The same data behind a bridge with live positions off.
    const quiet = await startBridge(
      { positionIntervalMs: null, heartbeatMs: 200 },
      { prefix: bridge.prefix, dropPrefix: false },
    );

    const token = await seenn.tokens.issue({ userId: user, ttlSeconds: 120 });
    const scoped = await seenn.tokens.issue({ userId: user, jobIds: [idle.id], ttlSeconds: 120 });
    const other = await seenn.tokens.issue({ userId: 'pos-b', ttlSeconds: 120 });
    const main = new RawSseClient(bridge.port, `/v1/sse?token=${token}&tap=main`);
    const off = new RawSseClient(quiet.port, `/v1/sse?token=${token}`);
    const filtered = new RecordingEventSource(`${bridge.baseUrl}/sse?jobId=${idle.id}`, { token });
    const scopedClient = new RecordingEventSource(`${bridge.baseUrl}/sse`, { token: scoped });
    const otherUser = new RecordingEventSource(`${bridge.baseUrl}/sse`, { token: other });
    // The last three jobs ahead, and ours, run only when let through; the others take ~30 ms each.
    const gated = [...ahead.slice(-3), watched].map((job) => job.id);
    const gates = new Gates();
    let worker: Worker | undefined;
    const positionSeen = (position: number) => () =>
      positionBlocks(main, watched.id).some((block) => jobOf(block).queue?.position === position);
    try {
      await waitFor(() => main.ofType('job.sync').length === 2 && off.ofType('job.sync').length === 2, {
        what: 'job.sync on both bridges',
      });
      await waitFor(
        () =>
          filtered.ofType('job.sync').length === 1 &&
          scopedClient.ofType('job.sync').length === 1 &&
          otherUser.ofType('connected').length === 1,
        { what: 'the other streams' },
      );
      const synced = main
        .ofType('job.sync')
        .map(jobOf)
        .find((job) => job.id === watched.id);
      expect(synced?.queue).toEqual({ position: AHEAD + 1, total: AHEAD + 1, queueName });
      expect(
        off
          .ofType('job.sync')
          .map(jobOf)
          .find((job) => job.id === watched.id)?.queue,
      ).toEqual({ position: AHEAD + 1, total: AHEAD + 1, queueName });
      // Watched: the two queued jobs of the main stream (the idle one shared with two more streams).
      await waitFor(() => bridge.router.bridge.stats.watchedJobs === 2, { what: 'two watched jobs' });
      expect(quiet.router.bridge.stats.watchedJobs).toBe(0);

      worker = new Worker(
        queueName,
        (job) => (gated.includes(String(job.id)) ? gates.wait(String(job.id)) : delay(30)),
        { connection: connect(), prefix: bridge.prefix, concurrency: 1 },
      );
      // The fast jobs move the queue faster than the interval; then one step at a time: 3, 2, 1.
      await waitFor(positionSeen(3), { what: 'position 3', timeoutMs: 15_000 });
      gates.open(gated[0] as string);
      await waitFor(positionSeen(2), { what: 'position 2' });
      gates.open(gated[1] as string);
      await waitFor(positionSeen(1), { what: 'position 1' });
      gates.open(gated[2] as string);
      const isRunning = (block: RawBlock): boolean =>
        block.id !== undefined && jobOf(block).id === watched.id && jobOf(block).status === 'running';
      await waitFor(() => main.ofType('job.progress').some(isRunning) && off.ofType('job.progress').some(isRunning), {
        what: 'the watched job running on both bridges',
      });
      await waitFor(() => bridge.router.bridge.stats.watchedJobs === 1, { what: 'the running job unwatched' });
      // Two heartbeats (200 ms each) after it runs: more than two intervals without a position update.
      const heartbeatsBefore = main.ofType('heartbeat').length;
      await waitFor(() => main.ofType('heartbeat').length >= heartbeatsBefore + 2, { what: 'two heartbeats' });
      gates.open(watched.id);
      await waitFor(() => main.ofType('job.completed').some((block) => jobOf(block).id === watched.id), {
        what: 'the watched job completed',
      });

      // The countdown: job.progress without id:, strictly decreasing, ending 3, 2, 1, only while queued.
      const updates = positionBlocks(main);
      expect(updates.every((block) => jobOf(block).id === watched.id)).toBe(true);
      const positions = updates.map((block) => jobOf(block).queue?.position as number);
      expect(positions.slice(-3)).toEqual([3, 2, 1]);
      expect(positions[0]).toBeLessThan(AHEAD + 1);
      for (let i = 1; i < positions.length; i += 1) expect(positions[i]).toBeLessThan(positions[i - 1] as number);
      for (const block of updates) {
        expect(jobOf(block)).toMatchObject({ id: watched.id, userId: user, status: 'queued', queue: { queueName } });
        expect(block.lines.map((line) => line.slice(0, line.indexOf(':')))).toEqual(['event', 'data']);
      }
      const order = main.blocks.filter((block) => block.event?.startsWith('job.') && jobOf(block).id === watched.id);
      const runningAt = order.findIndex(isRunning);
      expect(order.slice(runningAt).filter((block) => block.id === undefined)).toEqual([]);
      // Every write is one whole event.
      for (const chunk of main.chunks)
        expect(chunk.endsWith('\n\n') && !chunk.slice(0, -2).includes('\n\n')).toBe(true);

      // Server side: at most one position update of the job per interval. The watcher's own spacing is
      // checked exactly in test/position/watcher.test.ts; a write here can come a little later than its
      // emit (an update that arrives while the stream catches up waits for it), so consecutive writes
      // may sit closer than the interval by that delay — but never by more than half, and never more
      // writes than intervals in the span. (Date.now moves in 1 ms steps: allow that one step.)
      const tapped = (writes.get('main') ?? []).filter(
        (write) => /^event: ?job\.progress\n/.test(write.text) && !/\nid:/.test(write.text),
      );
      expect(tapped).toHaveLength(updates.length);
      for (let i = 1; i < tapped.length; i += 1)
        expect((tapped[i] as TappedWrite).atMs - (tapped[i - 1] as TappedWrite).atMs).toBeGreaterThanOrEqual(
          INTERVAL_MS / 2,
        );
      const spanMs = (tapped.at(-1) as TappedWrite).atMs - (tapped[0] as TappedWrite).atMs;
      expect(tapped.length).toBeLessThanOrEqual(Math.floor(spanMs / (INTERVAL_MS - 1)) + 1);

      // Streams not watching the job got no position: positions off, another user, a filter or a
      // scope for the idle job (whose position never changed).
      expect(positionBlocks(off)).toEqual([]);
      expect(
        off.ofType('job.progress').filter((block) => jobOf(block).id === watched.id).length,
      ).toBeGreaterThanOrEqual(1);
      expect(otherUser.jobEvents()).toEqual([]);
      expect(filtered.jobEvents()).toEqual([]);
      expect(scopedClient.jobEvents()).toEqual([]);
    } finally {
      gates.openAll();
      main.close();
      off.close();
      filtered.close();
      scopedClient.close();
      otherUser.close();
      await worker?.close();
      await quiet.close();
    }
    // Streams gone: nothing watched any more.
    await waitFor(() => bridge.router.bridge.stats.watchedJobs === 0 && bridge.router.bridge.stats.streams === 0, {
      what: 'every watch released',
    });
  });

  it('a recovered stream watches a queued job older than the newest syncMaxJobs jobs: it reads the unfinished jobs, not the history', async () => {
    const { seenn } = bridge;
    const user = 'pos-h';
    const queueName = 'pos-history';
    for (let i = 0; i < 2; i += 1)
      await seenn.jobs.start({ queue: queueName, userId: 'pos-ahead', jobType: 'render', title: `Ahead ${i}` });
    const mine = await seenn.jobs.start({ queue: queueName, userId: user, jobType: 'render', title: 'Mine' });
    // Newer than `mine`: more finished Seenn-only jobs than the bridge below examines.
    for (let i = 0; i < 4; i += 1)
      await (await seenn.jobs.start({ userId: user, jobType: 'import', title: `Done ${i}` })).complete();
    const entries = (await bridge.redis.xrange(seenn.context.keys.stream(user), '-', '+')).map(([id]) => id);
    const small = await startBridge(
      { positionIntervalMs: INTERVAL_MS, heartbeatMs: 200, syncMaxJobs: 3 },
      { prefix: bridge.prefix, dropPrefix: false },
    );
    const token = await seenn.tokens.issue({ userId: user, ttlSeconds: 120 });
    const recovered = new RawSseClient(small.port, `/v1/sse?token=${token}`, {
      'Last-Event-ID': entries[entries.length - 1] as string,
    });
    try {
      await waitFor(() => positionBlocks(recovered, mine.id).length === 1, {
        what: 'the position of the old queued job on a recovered stream',
      });
      expect(JSON.parse(recovered.ofType('connected')[0]?.data ?? '{}')).toMatchObject({ recovered: true });
      expect(jobOf(positionBlocks(recovered, mine.id)[0] as RawBlock).queue).toEqual({
        position: 3,
        total: 3,
        queueName,
      });
      // Only the unfinished job is watched.
      expect(small.router.bridge.stats.watchedJobs).toBe(1);
    } finally {
      recovered.close();
      await small.close();
    }
  });

  it('a recovered stream watches its queued jobs, and a replayed entry carries the latest known position', async () => {
    const { seenn } = bridge;
    const user = 'pos-r';
    const queueName = 'pos-resume';
    const token = await seenn.tokens.issue({ userId: user, ttlSeconds: 120 });
    await seenn.jobs.start({ queue: 'pos-resume-idle', userId: user, jobType: 'render', title: 'First' });
    for (let i = 0; i < 3; i += 1)
      await seenn.jobs.start({ queue: queueName, userId: 'pos-ahead', jobType: 'render', title: `Ahead ${i}` });
    const mine = await seenn.jobs.start({ queue: queueName, userId: user, jobType: 'render', title: 'Mine' });
    const [firstEntry, mineEntry] = (await bridge.redis.xrange(seenn.context.keys.stream(user), '-', '+')).map(
      ([id]) => id,
    );
    expect(firstEntry).toBeDefined();
    expect(mineEntry).toBeDefined();

    // Nothing to replay after this cursor: the stream learns its queued jobs from the store and
    // watches them; the first position update follows.
    const recovered = new RawSseClient(bridge.port, `/v1/sse?token=${token}`, { 'Last-Event-ID': mineEntry as string });
    try {
      await waitFor(() => positionBlocks(recovered, mine.id).length === 1, {
        what: 'the position on a recovered stream',
      });
      expect(JSON.parse(recovered.ofType('connected')[0]?.data ?? '{}')).toMatchObject({ recovered: true });
      expect(recovered.ofType('job.sync', 'job.started')).toEqual([]);
      expect(jobOf(positionBlocks(recovered, mine.id)[0] as RawBlock).queue).toEqual({
        position: 4,
        total: 4,
        queueName,
      });

      // A stream resuming before `mine` was created gets its job.started replayed, with the position.
      const replayed = new RawSseClient(bridge.port, `/v1/sse?token=${token}`, {
        'Last-Event-ID': firstEntry as string,
      });
      try {
        await waitFor(() => replayed.ofType('job.started').length === 1, { what: 'the replayed job.started' });
        const block = replayed.ofType('job.started')[0] as RawBlock;
        expect(block.id).toBe(mineEntry);
        expect(jobOf(block)).toMatchObject({
          id: mine.id,
          status: 'queued',
          queue: { position: 4, total: 4, queueName },
        });
        // The idle job of the same user is watched by both streams too (counted once).
        await waitFor(() => bridge.router.bridge.stats.watchedJobs === 2, { what: 'two watched jobs' });
      } finally {
        replayed.close();
      }
    } finally {
      recovered.close();
    }
    await waitFor(() => bridge.router.bridge.stats.watchedJobs === 0, { what: 'every watch released' });
  });

  it('validates positionIntervalMs with the other options', () => {
    for (const bad of [
      { positionIntervalMs: 5 },
      { positionIntervalMs: 1.5 },
      { positionIntervalMs: '100' },
      { positionIntervalMs: 3_600_001 },
    ]) {
      expect(() => bridge.seenn.bridge(bad as never), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: 'CONFIG_INVALID' }),
      );
    }
  });

  it('closes the watcher with seenn.close()', async () => {
    const close = vi.spyOn(PositionWatcher.prototype, 'close');
    try {
      const own = await startBridge({ positionIntervalMs: INTERVAL_MS }, { prefix: uniquePrefix('posclose') });
      const job = await own.seenn.jobs.start({
        queue: 'pos-close',
        userId: 'pos-c',
        jobType: 'render',
        title: 'Closing',
      });
      const client = new RawSseClient(
        own.port,
        `/v1/sse?token=${await own.seenn.tokens.issue({ userId: 'pos-c', ttlSeconds: 60 })}`,
      );
      await waitFor(() => own.router.bridge.stats.watchedJobs === 1 && client.ofType('job.sync').length === 1, {
        what: 'the job synced and watched',
      });
      expect(client.ofType('job.sync').map(jobOf)[0]?.id).toBe(job.id);
      await own.close();
      await client.ended;
      expect(close).toHaveBeenCalledTimes(1);
      expect(own.router.bridge.stats).toMatchObject({ streams: 0, watchedJobs: 0 });
    } finally {
      close.mockRestore();
    }
  });

  it('leaves nothing running: a process streaming positions exits by itself after seenn.close()', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/positions-exit.ts', import.meta.url));
    const prefix = uniquePrefix('posexit');
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      env: { ...process.env, SEENN_TEST_REDIS_URL: redisUrl(), SEENN_PREFIX: prefix },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (data: Buffer) => {
      output += data.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    clearTimeout(timer);
    await deletePrefix(bridge.redis, prefix);
    expect(output).toContain('POSITION 2');
    expect(output).toContain('CLOSED');
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  }, 40_000);
});
