/**
 * The chaos soak: its schedule replays from a seed, its audit catches every kind of fault it claims to
 * count (on made-up event logs), and a short real run — `bench/chaos.ts --duration-seconds 20`:
 * workers, publishers and bridges SIGKILLed and restarted, redis-server killed and restarted, every
 * Redis connection stalled and dropped, 100 auditing SSE clients — ends with nothing lost,
 * duplicated or out of order (the long run is `npm run chaos`; figures in bench/README.md).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditClient, stepMessage, stepProgress, type SeenEvent } from '../../bench/lib/chaos/audit.js';
import { chaosSchedule } from '../../bench/lib/chaos/schedule.js';
import { cleanUpRun, resultsDir, runBenchScript } from './script-run.js';

const RUN_TIMEOUT_MS = 150_000;
const STEPS = 4;

afterEach(cleanUpRun);

describe('chaos schedule', () => {
  const options = { durationMs: 60_000, meanGapMs: 2_000, processes: { worker: 2, publisher: 2, bridge: 3 } };

  it('is the same for the same seed and differs for another', () => {
    expect(chaosSchedule(42, options)).toEqual(chaosSchedule(42, options));
    expect(chaosSchedule(43, options)).not.toEqual(chaosSchedule(42, options));
  });

  it('starts with every kind of fault once, stays inside the duration and targets existing processes', () => {
    for (const seed of [1, 2, 3, 99, 123_456]) {
      const schedule = chaosSchedule(seed, options);
      const kinds = (entry: (typeof schedule)[number]): string =>
        entry.action.kind === 'kill' ? `kill-${entry.action.role}` : entry.action.kind;
      expect(new Set(schedule.slice(0, 6).map(kinds))).toEqual(
        new Set(['kill-worker', 'kill-publisher', 'kill-bridge', 'redis-restart', 'proxy-stall', 'proxy-drop']),
      );
      for (const [i, { atMs, action }] of schedule.entries()) {
        expect(atMs).toBeLessThan(options.durationMs);
        if (i > 0) expect(atMs).toBeGreaterThan((schedule[i - 1] as { atMs: number }).atMs);
        if (action.kind === 'kill') expect(action.index).toBeLessThan(options.processes[action.role]);
      }
    }
  });
});

describe('chaos audit', () => {
  let sequence = 0;
  const id = (): string => `1700000000000-${sequence++}`;
  /** What a client sees for one clean run of `jobId`: queued, running, each step, completed. */
  function cleanRun(jobId: string, attempt = 1): SeenEvent[] {
    const base = { jobId, attempt, resultToken: null };
    return [
      { ...base, id: id(), event: 'job.progress', status: 'queued', progress: 0, message: null },
      { ...base, id: id(), event: 'job.started', status: 'running', progress: 0, message: null },
      ...Array.from({ length: STEPS }, (_, k) => ({
        ...base,
        id: id(),
        event: 'job.progress',
        status: 'running',
        progress: stepProgress(k + 1, STEPS),
        message: stepMessage(k + 1),
      })),
      {
        ...base,
        id: id(),
        event: 'job.completed',
        status: 'completed',
        progress: 100,
        message: stepMessage(STEPS),
        resultToken: jobId,
      },
    ];
  }
  const zero = { lostEntries: 0, lostFinals: 0, duplicated: 0, outOfOrder: 0, mismatched: 0 };

  it('finds nothing wrong in two clean jobs, one of them run again after a stall', () => {
    const first = cleanRun('a');
    const stalled = cleanRun('b').slice(0, 4);
    const retried = [
      { ...(stalled[0] as SeenEvent), id: id(), attempt: 2, message: 'Attempt 1 did not finish; it will run again' },
      ...cleanRun('b', 2).slice(1),
    ];
    const events = [...first, ...stalled, ...retried];
    expect(
      auditClient({ events, streamIds: events.map((event) => event.id), completedJobIds: ['a', 'b'], steps: STEPS }),
    ).toEqual(zero);
  });

  it('counts a stream entry never received and a finished job never seen complete as lost', () => {
    const events = cleanRun('a');
    const received = events.filter((_, i) => i !== 3);
    expect(
      auditClient({
        events: received,
        streamIds: events.map((event) => event.id),
        completedJobIds: ['a'],
        steps: STEPS,
      }),
    ).toEqual({ ...zero, lostEntries: 1 });
    const unfinished = events.slice(0, -1);
    expect(
      auditClient({
        events: unfinished,
        streamIds: unfinished.map((event) => event.id),
        completedJobIds: ['a'],
        steps: STEPS,
      }),
    ).toEqual({ ...zero, lostFinals: 1 });
  });

  it('counts an id received twice, and one change shown twice under two ids, as duplicated', () => {
    const events = cleanRun('a');
    const twice = [...events.slice(0, 4), events[3] as SeenEvent, ...events.slice(4)];
    expect(
      auditClient({ events: twice, streamIds: events.map((event) => event.id), completedJobIds: ['a'], steps: STEPS }),
    ).toEqual({ ...zero, duplicated: 1 });
    // The same change again under the next id (a source event applied twice).
    const reapplied = [...events.slice(0, 4), events[3] as SeenEvent, ...events.slice(4)].map((event) => ({
      ...event,
      id: id(),
    }));
    expect(
      auditClient({
        events: reapplied,
        streamIds: reapplied.map((event) => event.id),
        completedJobIds: ['a'],
        steps: STEPS,
      }).duplicated,
    ).toBe(1);
  });

  it('counts ids going backwards, and a job going back to an earlier state, as out of order', () => {
    const events = cleanRun('a');
    const swapped = [...events];
    [swapped[2], swapped[3]] = [swapped[3] as SeenEvent, swapped[2] as SeenEvent];
    expect(
      auditClient({ events: swapped, streamIds: events.map((event) => event.id), completedJobIds: ['a'], steps: STEPS })
        .outOfOrder,
    ).toBe(2);
    // Increasing ids, but the job's progress goes back within one attempt.
    const regress = events.map((event, i) =>
      i === 4 ? { ...event, progress: stepProgress(1, STEPS), message: stepMessage(1) } : event,
    );
    expect(
      auditClient({
        events: regress,
        streamIds: regress.map((event) => event.id),
        completedJobIds: ['a'],
        steps: STEPS,
      }),
    ).toEqual({ ...zero, outOfOrder: 1 });
  });

  it('counts states no worker wrote: a step message that does not match, a wrong result, another user’s job', () => {
    const events = cleanRun('a');
    const wrongMessage = events.map((event, i) => (i === 3 ? { ...event, message: 'step 9' } : event));
    expect(
      auditClient({
        events: wrongMessage,
        streamIds: events.map((event) => event.id),
        completedJobIds: ['a'],
        steps: STEPS,
      }),
    ).toEqual({ ...zero, mismatched: 1 });
    const wrongResult = events.map((event, i) => (i === events.length - 1 ? { ...event, resultToken: 'b' } : event));
    expect(
      auditClient({
        events: wrongResult,
        streamIds: events.map((event) => event.id),
        completedJobIds: ['a'],
        steps: STEPS,
      }),
    ).toEqual({ ...zero, mismatched: 1 });
    expect(
      auditClient({ events, streamIds: events.map((event) => event.id), completedJobIds: [], steps: STEPS }).mismatched,
    ).toBe(events.length);
  });
});

describe('bench/chaos.ts (short run)', () => {
  it(
    'loses, duplicates and reorders nothing while processes, Redis and connections fail',
    async () => {
      const dir = await resultsDir('seenn-chaos');
      const args = [
        '--duration-seconds',
        '20',
        '--clients',
        '100',
        '--rate',
        '6',
        '--mean-gap-ms',
        '2000',
        '--drain-seconds',
        '60',
      ];
      const { code, output } = await runBenchScript('bench/chaos.ts', args, { BENCH_RESULTS_DIR: dir });
      // The whole run's output (its table and the problems it found) when it failed: vitest shortens long messages.
      if (code !== 0) console.log(output);
      expect(code, output.slice(-4_000)).toBe(0);
      expect(output).toMatch(/chaos: seed \d+ \(replay with --seed \d+\)/);

      const result = JSON.parse(await readFile(path.join(dir, 'chaos.json'), 'utf8')) as {
        ok: boolean;
        seed: number;
        faults: Record<string, { planned: number; done: number }>;
        jobs: { completed: number; failed: number };
        audit: {
          clients: number;
          eventsAudited: number;
          lost: number;
          duplicated: number;
          outOfOrder: number;
          mismatched: number;
          unrecoveredReconnects: number;
        };
        processes: { unexpectedExits: number };
      };
      expect(result.ok).toBe(true);
      expect(result.audit).toMatchObject({
        clients: 100,
        lost: 0,
        duplicated: 0,
        outOfOrder: 0,
        mismatched: 0,
        unrecoveredReconnects: 0,
      });
      expect(result.processes.unexpectedExits).toBe(0);
      expect(result.jobs.failed).toBe(0);
      // Warm-up (one job per client) plus about 6 jobs/s for 20 s, each audited.
      expect(result.jobs.completed).toBeGreaterThan(100);
      expect(result.audit.eventsAudited).toBeGreaterThan(result.jobs.completed * 3);
      // Every kind of fault happened at least once.
      expect(Object.keys(result.faults).sort()).toEqual([
        'kill bridge',
        'kill publisher',
        'kill worker',
        'proxy-drop',
        'proxy-stall',
        'redis-restart',
      ]);
      for (const [kind, counts] of Object.entries(result.faults)) expect(counts.done, kind).toBeGreaterThan(0);
    },
    RUN_TIMEOUT_MS,
  );
});
