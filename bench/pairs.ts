/**
 * Before/after pairs: runs one bench script in two arms, alternately, and compares the figures each
 * run wrote. The order swaps from one pair to the next (A then B, B then A, …): on a 2-core box the
 * first run of a pair tends to be the faster one (session 9 measured it), so pairs that always ran
 * the code before first made every "after" look slower than it was. The result also gives the
 * after/before ratio by which arm ran first, so an order effect shows instead of hiding in a median.
 *
 *   # this tree against commit 5d7763d, 4 pairs, the figure at runs.0.sourceEventsPerSecond of the result
 *   npx tsx bench/pairs.ts --before 5d7763d --pairs 4 \
 *     --figure events/s=runs.0.sourceEventsPerSecond -- bench/catch-up.ts
 *   # one tree, two settings (each arm's environment on top of this one's)
 *   npx tsx bench/pairs.ts --a-env BENCH_PUBLISHER_NODE_ARGS= --b-env BENCH_PUBLISHER_NODE_ARGS=--max-semi-space-size=64 \
 *     --figure events/s=runs.0.sourceEventsPerSecond -- bench/catch-up.ts
 *
 * Arm A is `--before`'s tree (`git archive` of that revision, sharing this tree's `node_modules`) or
 * this tree; arm B is this tree. `--a-env` / `--b-env` (repeatable, `NAME=value`) set variables for
 * one arm. Each run writes into its own results directory (`BENCH_RESULTS_DIR`); a figure is a dot
 * path into the one JSON file the script wrote there (`--result <name>` picks one when it writes more).
 * Prints a table and writes `bench/results/pairs.json`. Run nothing else on the box meanwhile.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadAverage, median, round, writeResult } from './lib/harness.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** One side of the comparison: where the script runs and with what environment. */
interface Arm {
  label: 'A' | 'B';
  /** What the arm is, for the table: a revision or "this tree", plus its variables. */
  describe: string;
  dir: string;
  env: Record<string, string>;
}

/** One run's figures, by label. */
type Figures = Record<string, number>;

/** The options this script takes (see the module comment). */
interface PairsOptions {
  pairs: number;
  before: string | undefined;
  aEnv: Record<string, string>;
  bEnv: Record<string, string>;
  figures: { label: string; path: string }[];
  result: string | undefined;
  script: string;
  scriptArgs: string[];
}

function usage(message: string): never {
  console.error(
    `${message}\nusage: npx tsx bench/pairs.ts [--before <rev>] [--pairs N] [--a-env NAME=value]… [--b-env NAME=value]… ` +
      '--figure <label>=<dot.path>… [--result <name>] -- <script> [args…]',
  );
  process.exit(2);
}

function envPairs(values: readonly string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const value of values ?? []) {
    const at = value.indexOf('=');
    if (at <= 0) usage(`not NAME=value: ${value}`);
    env[value.slice(0, at)] = value.slice(at + 1);
  }
  return env;
}

function parseOptions(argv: readonly string[]): PairsOptions {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      pairs: { type: 'string', default: '3' },
      before: { type: 'string' },
      'a-env': { type: 'string', multiple: true },
      'b-env': { type: 'string', multiple: true },
      figure: { type: 'string', multiple: true },
      result: { type: 'string' },
    },
  });
  const pairs = Number(values.pairs);
  if (!Number.isInteger(pairs) || pairs < 1) usage('--pairs must be a positive integer');
  const figures = (values.figure ?? []).map((spec) => {
    const at = spec.indexOf('=');
    if (at <= 0 || at === spec.length - 1) usage(`--figure must be <label>=<dot.path>: ${spec}`);
    return { label: spec.slice(0, at), path: spec.slice(at + 1) };
  });
  if (figures.length === 0) usage('at least one --figure is needed');
  const [script, ...scriptArgs] = positionals;
  if (script === undefined) usage('the bench script is missing (after --)');
  return {
    pairs,
    before: values.before,
    aEnv: envPairs(values['a-env']),
    bEnv: envPairs(values['b-env']),
    figures,
    result: values.result,
    script,
    scriptArgs,
  };
}

/**
 * The value at `dotPath` (`runs.0.eventsPerSecond`; a key with a dot in it written `\.`, as in
 * `median.jobs\.start.cpuUsPerCall`) of `data`, which must be a finite number.
 */
export function figureAt(data: unknown, dotPath: string): number {
  let value: unknown = data;
  for (const part of dotPath.split(/(?<!\\)\./).map((key) => key.replaceAll('\\.', '.'))) {
    if (value === null || typeof value !== 'object') throw new Error(`no ${dotPath} in the result`);
    value = (value as Record<string, unknown>)[part];
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`${dotPath} is not a number in the result`);
  return value;
}

/** The arms in the order pair `index` (0-based) runs them: A first in even pairs, B first in odd ones. */
export function pairOrder<T>(index: number, a: T, b: T): [T, T] {
  return index % 2 === 0 ? [a, b] : [b, a];
}

/** A tree of `rev` in a temporary directory, with this tree's `node_modules`. */
async function treeOf(rev: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seenn-pairs-'));
  const archive = spawn('git', ['archive', rev], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const untar = spawn('tar', ['-x', '-C', dir], { stdio: ['pipe', 'inherit', 'inherit'] });
  archive.stdout.pipe(untar.stdin);
  const [[archived], [untarred]] = (await Promise.all([once(archive, 'exit'), once(untar, 'exit')])) as [
    [number | null],
    [number | null],
  ];
  if (archived !== 0 || untarred !== 0) throw new Error(`git archive ${rev} failed`);
  await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

/** Runs the script once in `arm`'s tree and returns its figures (its output goes to this process's stderr). */
async function runOnce(arm: Arm, options: PairsOptions): Promise<Figures> {
  const resultsDir = await mkdtemp(path.join(os.tmpdir(), 'seenn-pairs-run-'));
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', options.script, ...options.scriptArgs], {
      cwd: arm.dir,
      env: { ...process.env, ...arm.env, BENCH_RESULTS_DIR: resultsDir },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`${options.script} exited with ${code} in arm ${arm.label}`);
    const files = (await readdir(resultsDir)).filter((name) => name.endsWith('.json'));
    const file = options.result === undefined ? files : files.filter((name) => name === `${options.result}.json`);
    if (file.length !== 1)
      throw new Error(`expected one result file, found ${files.join(', ') || 'none'} (pick one with --result)`);
    const data: unknown = JSON.parse(await readFile(path.join(resultsDir, file[0] as string), 'utf8'));
    const figures: Figures = {};
    for (const { label, path: dotPath } of options.figures) figures[label] = figureAt(data, dotPath);
    return figures;
  } finally {
    await rm(resultsDir, { recursive: true, force: true });
  }
}

/** What the pairs say about one figure. */
export interface FigureComparison {
  label: string;
  a: number[];
  b: number[];
  medianA: number;
  medianB: number;
  /** medianB / medianA. */
  ratio: number;
  /** B / A of each pair, in pair order. */
  pairRatios: number[];
  /** The median of the pairs' B / A where A ran first, and where B ran first (null when none). */
  ratioWhenAFirst: number | null;
  ratioWhenBFirst: number | null;
}

/** Compares the figures of `runs` (pair by pair: `[a, b]`). */
export function compare(labels: readonly string[], runs: readonly [Figures, Figures][]): FigureComparison[] {
  return labels.map((label) => {
    const a = runs.map(([runA]) => runA[label] as number);
    const b = runs.map(([, runB]) => runB[label] as number);
    const pairRatios = runs.map((_, i) => (b[i] as number) / (a[i] as number));
    const aFirst = pairRatios.filter((_, i) => i % 2 === 0);
    const bFirst = pairRatios.filter((_, i) => i % 2 === 1);
    return {
      label,
      a,
      b,
      medianA: median(a),
      medianB: median(b),
      ratio: median(b) / median(a),
      pairRatios,
      ratioWhenAFirst: aFirst.length === 0 ? null : median(aFirst),
      ratioWhenBFirst: bFirst.length === 0 ? null : median(bFirst),
    };
  });
}

function describeEnv(env: Record<string, string>): string {
  const names = Object.entries(env).map(([name, value]) => `${name}=${value}`);
  return names.length === 0 ? '' : ` (${names.join(' ')})`;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const beforeDir = options.before === undefined ? null : await treeOf(options.before);
  const a: Arm = {
    label: 'A',
    describe: `${options.before ?? 'this tree'}${describeEnv(options.aEnv)}`,
    dir: beforeDir ?? ROOT,
    env: options.aEnv,
  };
  const b: Arm = { label: 'B', describe: `this tree${describeEnv(options.bEnv)}`, dir: ROOT, env: options.bEnv };
  const loadBefore = loadAverage();
  const runs: [Figures, Figures][] = [];
  try {
    for (let i = 0; i < options.pairs; i += 1) {
      const figures = new Map<Arm, Figures>();
      for (const arm of pairOrder(i, a, b)) {
        const got = await runOnce(arm, options);
        figures.set(arm, got);
        console.error(`pair ${i + 1}/${options.pairs}, arm ${arm.label}: ${JSON.stringify(got)}`);
      }
      runs.push([figures.get(a) as Figures, figures.get(b) as Figures]);
    }
  } finally {
    if (beforeDir !== null) await rm(beforeDir, { recursive: true, force: true });
  }
  const comparisons = compare(
    options.figures.map(({ label }) => label),
    runs,
  );
  const show = (value: number | null): string => (value === null ? '–' : `×${round(value, 3)}`);
  console.log(
    `\nPairs: ${options.script} ${options.scriptArgs.join(' ')}; A = ${a.describe}, B = ${b.describe}; ` +
      `${options.pairs} pairs, A first in pairs 1, 3, …; load ${loadBefore.join(' ')}`,
  );
  console.table(
    Object.fromEntries(
      comparisons.map((c) => [
        c.label,
        {
          'A runs': c.a.map((value) => round(value)).join(' / '),
          'B runs': c.b.map((value) => round(value)).join(' / '),
          'median A → B': `${round(c.medianA)} → ${round(c.medianB)}`,
          'B / A': show(c.ratio),
          'B / A, A ran first': show(c.ratioWhenAFirst),
          'B / A, B ran first': show(c.ratioWhenBFirst),
        },
      ]),
    ),
  );
  const file = await writeResult('pairs', {
    scenario: 'pairs',
    date: new Date().toISOString(),
    loadAverage: { before: loadBefore, after: loadAverage() },
    script: options.script,
    scriptArgs: options.scriptArgs,
    arms: { A: a.describe, B: b.describe },
    pairs: options.pairs,
    order: 'A first in odd-numbered pairs (1, 3, …), B first in even-numbered ones',
    comparisons,
  });
  console.log(`wrote ${file}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
