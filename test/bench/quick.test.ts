/**
 * The benchmark harness runs: `bench/overhead.ts --quick` and `bench/metrics.ts --quick` against the
 * test Redis (so they must use `REDIS_URL` and delete only their own keys) produce well-formed
 * results. No speed is judged here —
 * figures belong in bench/README.md — only that every figure is present and positive, that the
 * JSON was written, and that nothing was left behind.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { redisUrl } from '../helpers/redis.js';
import { cleanUpRun, keysLeft, resultsDir, runBenchScript } from './script-run.js';

const RUN_TIMEOUT_MS = 150_000;

afterEach(cleanUpRun);

const positive = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0;

describe('bench/overhead.ts --quick', () => {
  it(
    'writes a well-formed result with every round and figure, and leaves no keys behind',
    async () => {
      const dir = await resultsDir('seenn-bench');
      const run = await runBenchScript(
        'bench/overhead.ts',
        ['--quick'],
        { REDIS_URL: redisUrl(), BENCH_RESULTS_DIR: dir },
        RUN_TIMEOUT_MS,
      );
      expect(run.code, run.output).toBe(0);
      expect(run.output).toContain('median jobs/s');

      const result = JSON.parse(await readFile(path.join(dir, 'overhead.json'), 'utf8')) as {
        scenario: string;
        quick: boolean;
        machine: { nproc: number; node: string; redis: string };
        loadAverage: { before: number[]; after: number[] };
        setup: { jobsPerRound: number; roundsPerArm: number };
        rounds: {
          arm: string;
          round: number;
          jobs: number;
          jobsPerSecond: number;
          progressWritesPerJob: number;
          publisherLag?: { lastJobMs: number; perJobMs: { p50: number; p99: number }; missing: number };
        }[];
        summary: Record<string, unknown>;
      };
      expect(result.scenario).toBe('overhead');
      expect(result.quick).toBe(true);
      expect(positive(result.machine.nproc)).toBe(true);
      expect(result.machine.node).toBe(process.version);
      expect(result.machine.redis).toMatch(/^\d+\.\d+/);
      expect(result.loadAverage.before).toHaveLength(3);

      // Rounds alternate bare / wrapped / wrapped-t0 / alone / alone-t0, the same job count each.
      const { roundsPerArm, jobsPerRound } = result.setup;
      expect(result.rounds.map((r) => `${r.round} ${r.arm}`)).toEqual(
        Array.from({ length: roundsPerArm }, (_, n) => [
          `${n + 1} bare`,
          `${n + 1} wrapped`,
          `${n + 1} wrapped-t0`,
          `${n + 1} alone`,
          `${n + 1} alone-t0`,
        ]).flat(),
      );
      for (const round of result.rounds) {
        expect(round.jobs).toBe(jobsPerRound);
        expect(positive(round.jobsPerSecond), `${round.arm} jobs/s`).toBe(true);
        expect(round.progressWritesPerJob).toBeGreaterThan(0);
        // Only the arms with a publisher on their queue measure its lag.
        if (!round.arm.startsWith('wrapped')) expect(round.publisherLag).toBeUndefined();
        else {
          expect(round.publisherLag?.missing).toBe(0);
          expect(positive(round.publisherLag?.perJobMs.p50)).toBe(true);
          expect(Number.isFinite(round.publisherLag?.lastJobMs)).toBe(true);
        }
      }
      for (const key of [
        'bareJobsPerSecondMedian',
        'wrappedJobsPerSecondMedian',
        'ratioWrappedToBare',
        'wrappedThrottle0JobsPerSecondMedian',
        'ratioWrappedThrottle0ToBare',
        'aloneJobsPerSecondMedian',
        'ratioAloneToBare',
        'aloneThrottle0JobsPerSecondMedian',
        'ratioAloneThrottle0ToBare',
      ]) {
        expect(positive(result.summary[key]), key).toBe(true);
      }
      expect(result.summary['missingCompletedStates']).toBe(0);

      // Only its own keys were used, and they are gone.
      expect(await keysLeft('bench-ovh-*')).toEqual([]);
    },
    RUN_TIMEOUT_MS + 10_000,
  );
});

describe('bench/metrics.ts --quick', () => {
  it(
    'measures both paths and the recorder with metrics on and off, the on arm counted the work, and leaves no keys behind',
    async () => {
      const dir = await resultsDir('seenn-bench');
      const run = await runBenchScript(
        'bench/metrics.ts',
        ['--quick'],
        { REDIS_URL: redisUrl(), BENCH_RESULTS_DIR: dir },
        RUN_TIMEOUT_MS,
      );
      expect(run.code, run.output).toBe(0);
      expect(run.output).toMatch(/bridge +\| +\d+ \| +\d+ \| ×\d/);

      const result = JSON.parse(await readFile(path.join(dir, 'metrics.json'), 'utf8')) as {
        scenario: string;
        quick: boolean;
        rounds: number;
        paths: {
          path: string;
          off: Record<string, number>;
          on: Record<string, number>;
          throughputRatio: number;
          cpuRatio: number;
        }[];
        recorder: Record<'off' | 'on', Record<string, number>>;
        counted: { eventsSent: number; publisherEvents: number };
        perRound: Record<string, Record<'off' | 'on', unknown[]>>;
      };
      expect(result.scenario).toBe('metrics');
      expect(result.quick).toBe(true);
      expect(result.paths.map((row) => row.path)).toEqual(['bridge', 'publisher']);
      for (const row of result.paths) {
        for (const arm of ['off', 'on'] as const) {
          expect(positive(row[arm]['eventsPerSecond']), `${row.path} ${arm}`).toBe(true);
          expect(positive(row[arm]['cpuMicrosPerEvent']), `${row.path} ${arm}`).toBe(true);
          expect(result.perRound[row.path]?.[arm]).toHaveLength(result.rounds);
        }
        expect(positive(row.throughputRatio) && positive(row.cpuRatio)).toBe(true);
      }
      for (const call of ['eventSentNs', 'timeCommitNs', 'publisherEventsNs'])
        expect(positive(result.recorder.on[call]) && positive(result.recorder.off[call]), call).toBe(true);
      // The on arm's metrics saw the work (the off arm has none to see).
      expect(result.counted.eventsSent).toBeGreaterThan(0);
      expect(result.counted.publisherEvents).toBeGreaterThan(0);

      // Only its own keys were used, and they are gone.
      expect(await keysLeft('bench-metrics-*')).toEqual([]);
    },
    RUN_TIMEOUT_MS + 10_000,
  );
});
