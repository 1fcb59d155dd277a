/**
 * `bench/pairs.ts`: the arms alternate which runs first, every run's figure is read from its own
 * result file, the comparison splits the ratios by which arm ran first, and bad input is refused
 * with a usage message. Runs the real script in child processes (with a stand-in bench script).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compare, figureAt, pairOrder } from '../../bench/pairs.js';
import { runBenchScript } from './script-run.js';

const PROBE = 'test/bench/fixtures/pair-probe.ts';
let dir: string | undefined;

afterEach(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('bench/pairs.ts helpers', () => {
  it('swaps the order every pair', () => {
    expect([0, 1, 2, 3].map((i) => pairOrder(i, 'A', 'B').join(''))).toEqual(['AB', 'BA', 'AB', 'BA']);
  });

  it('splits the B / A ratios by which arm ran first', () => {
    const [events] = compare(
      ['e'],
      [
        [{ e: 100 }, { e: 90 }],
        [{ e: 100 }, { e: 120 }],
        [{ e: 200 }, { e: 180 }],
      ],
    );
    expect(events?.medianA).toBe(100);
    expect(events?.medianB).toBe(120);
    expect(events?.ratio).toBeCloseTo(1.2);
    expect(events?.ratioWhenAFirst).toBeCloseTo(0.9);
    expect(events?.ratioWhenBFirst).toBeCloseTo(1.2);
  });

  it('reads a figure by its dot path and refuses anything but a finite number', () => {
    const result = { runs: [{ value: 7, name: 'x' }] };
    expect(figureAt(result, 'runs.0.value')).toBe(7);
    expect(() => figureAt(result, 'runs.1.value')).toThrow('no runs.1.value');
    expect(() => figureAt(result, 'runs.0.name')).toThrow('runs.0.name is not a number');
  });

  it('reads a key with a dot in it when the dot is escaped', () => {
    const result = { median: { 'jobs.start': { us: 48.6 }, jobs: { start: { us: 1 } } } };
    expect(figureAt(result, 'median.jobs\\.start.us')).toBe(48.6);
    expect(figureAt(result, 'median.jobs.start.us')).toBe(1);
  });
});

describe('bench/pairs.ts', () => {
  it('runs the arms alternately and compares their figures', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'seenn-pairs-test-'));
    const log = path.join(dir, 'runs.log');
    const run = await runBenchScript(
      'bench/pairs.ts',
      [
        '--pairs',
        '3',
        '--a-env',
        'PROBE_ARM=A',
        '--a-env',
        'PROBE_VALUE=10',
        '--b-env',
        'PROBE_ARM=B',
        '--b-env',
        'PROBE_VALUE=15',
        '--figure',
        'value=runs.0.value',
        '--',
        PROBE,
      ],
      { PROBE_LOG: log, BENCH_RESULTS_DIR: dir },
      60_000,
    );
    expect(run.code, run.output).toBe(0);
    const arms = (await readFile(log, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => line.split(' ')[0]);
    expect(arms).toEqual(['A', 'B', 'B', 'A', 'A', 'B']);
    const result = JSON.parse(await readFile(path.join(dir, 'pairs.json'), 'utf8')) as {
      comparisons: { label: string; a: number[]; b: number[]; ratio: number; ratioWhenBFirst: number }[];
    };
    expect(result.comparisons).toHaveLength(1);
    expect(result.comparisons[0]).toMatchObject({ label: 'value', a: [10, 10, 10], b: [15, 15, 15], ratio: 1.5 });
    expect(result.comparisons[0]?.ratioWhenBFirst).toBe(1.5);
    expect(run.output).toContain('×1.5');
  });

  it('runs arm A in a git archive of --before and arm B in this tree', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'seenn-pairs-test-'));
    const log = path.join(dir, 'runs.log');
    const run = await runBenchScript(
      'bench/pairs.ts',
      ['--before', 'HEAD', '--pairs', '1', '--b-env', 'PROBE_ARM=B', '--figure', 'v=runs.0.value', '--', PROBE],
      { PROBE_LOG: log, BENCH_RESULTS_DIR: dir, PROBE_ARM: 'A', PROBE_VALUE: '3' },
      60_000,
    );
    expect(run.code, run.output).toBe(0);
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(2);
    const [a, b] = lines.map((line) => line.split(' ')) as [string[], string[]];
    expect(a[0]).toBe('A');
    expect(a[1]).toContain('seenn-pairs-');
    expect(b).toEqual(['B', process.cwd()]);
  });

  it('refuses a run without a figure, and a figure the result does not have', async () => {
    const noFigure = await runBenchScript('bench/pairs.ts', ['--', PROBE], {}, 30_000);
    expect(noFigure.code).toBe(2);
    expect(noFigure.output).toContain('at least one --figure is needed');
    dir = await mkdtemp(path.join(os.tmpdir(), 'seenn-pairs-test-'));
    const missing = await runBenchScript(
      'bench/pairs.ts',
      ['--pairs', '1', '--figure', 'x=runs.0.missing', '--', PROBE],
      { PROBE_LOG: path.join(dir, 'runs.log'), PROBE_VALUE: '1', BENCH_RESULTS_DIR: dir },
      30_000,
    );
    expect(missing.code).toBe(1);
    expect(missing.output).toContain('runs.0.missing is not a number');
  });
});
