/**
 * `npm run bench`: runs every scenario one after the other, each in its own process group (so that
 * everything a scenario started is stopped with it, also on Ctrl-C or when its time is up), prints
 * one table of the key figures and writes `bench/results/summary.json` next to each scenario's own
 * JSON.
 *
 *   npm run bench                      # full mode (about 10 minutes on 2 cores)
 *   npm run bench -- --quick           # every scenario, short (CI; figures not judged)
 *   npm run bench -- overhead e2e      # only these scenarios (names below)
 *   npm run bench -- --markdown        # also print the table as Markdown (for bench/README.md)
 *
 * Scenarios: overhead, e2e (bench/e2e-latency.ts at several loads), connections, reconnect-storm,
 * position (bench/position.ts; it has no short mode and takes ~1 min, several on a loaded box),
 * metrics (bench/metrics.ts: the bridge and publisher hot paths with metrics on vs off), output
 * (bench/output.ts, job output streams). `REDIS_URL` is passed through:
 * each scenario then uses that Redis and deletes only its own keys.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { RESULTS_DIR, isQuick, loadAverage, machineInfo, round, writeResult } from './lib/harness.js';

const quick = isQuick();
const args = process.argv.slice(2);
const markdown = args.includes('--markdown');
const only = args.filter((arg) => !arg.startsWith('--'));

/** One run of one script: its command line, environment, time limit and result file. */
interface Step {
  scenario: string;
  label: string;
  script: string;
  args: string[];
  env: Record<string, string>;
  timeoutSeconds: number;
  resultFile: string;
  /** Where the result is copied after the run (the e2e script always writes the same file). */
  copyTo?: string;
}

/** A figure for the summary table. */
interface Figure {
  scenario: string;
  figure: string;
  value: string;
}

const E2E_CONFIGS = quick
  ? [{ connections: 500, rate: 500, seconds: 3 }]
  : [
      { connections: 1_000, rate: 1_000, seconds: 10 },
      { connections: 1_000, rate: 5_000, seconds: 10 },
      { connections: 10_000, rate: 1_000, seconds: 10 },
      { connections: 10_000, rate: 5_000, seconds: 10 },
    ];

function steps(): Step[] {
  const flag = quick ? ['--quick'] : [];
  const list: Step[] = [
    {
      scenario: 'overhead',
      label: 'overhead',
      script: 'bench/overhead.ts',
      args: flag,
      env: {},
      timeoutSeconds: quick ? 100 : 600,
      resultFile: 'overhead.json',
    },
    ...E2E_CONFIGS.map(({ connections, rate, seconds }): Step => ({
      scenario: 'e2e',
      label: `e2e ${connections} conns @ ${rate}/s`,
      script: 'bench/e2e-latency.ts',
      args: [],
      // One stream per user: each progress event goes to one connection (the job-progress shape).
      env: {
        BENCH_CONNECTIONS: String(connections),
        BENCH_USERS: String(connections),
        BENCH_RATE: String(rate),
        BENCH_SECONDS: String(seconds),
        BENCH_CLIENT_PROCESSES: String(Math.max(1, Math.ceil(connections / 5_000))),
      },
      timeoutSeconds: quick ? 60 : 240,
      resultFile: 'e2e-latency.json',
      copyTo: `e2e-latency-${connections}c-${rate}r.json`,
    })),
    {
      scenario: 'connections',
      label: 'connections',
      script: 'bench/connections.ts',
      args: flag,
      env: {},
      timeoutSeconds: quick ? 90 : 300,
      resultFile: 'connections.json',
    },
    {
      scenario: 'reconnect-storm',
      label: 'reconnect-storm',
      script: 'bench/reconnect-storm.ts',
      args: flag,
      env: {},
      timeoutSeconds: quick ? 100 : 600,
      resultFile: 'reconnect-storm.json',
    },
    {
      scenario: 'position',
      label: 'position',
      script: 'bench/position.ts',
      args: [],
      env: {},
      timeoutSeconds: 300,
      resultFile: 'position.json',
    },
    {
      scenario: 'metrics',
      label: 'metrics on vs off',
      script: 'bench/metrics.ts',
      args: flag,
      env: {},
      timeoutSeconds: quick ? 180 : 600,
      resultFile: 'metrics.json',
    },
    {
      scenario: 'output',
      label: 'output',
      script: 'bench/output.ts',
      args: [],
      env: quick ? { BENCH_JOBS: '50', BENCH_SECONDS: '3', BENCH_OVERHEAD_JOBS: '10', BENCH_OVERHEAD_CALLS: '50' } : {},
      timeoutSeconds: quick ? 120 : 400,
      resultFile: 'output.json',
    },
  ];
  return only.length === 0 ? list : list.filter((step) => only.includes(step.scenario));
}

/** The command line that reproduces a step by hand. */
function commandOf(step: Step): string {
  const env = Object.entries(step.env)
    .map(([key, value]) => `${key}=${value} `)
    .join('');
  return `${env}npx tsx ${step.script}${step.args.length > 0 ? ` ${step.args.join(' ')}` : ''}`;
}

let running: number | undefined;

/** Kills the running step's whole process group (the step and everything it started). */
function killRunning(): void {
  if (running === undefined) return;
  try {
    process.kill(-running, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}; stopping the running scenario and everything it started\n`);
    killRunning();
    process.exit(130);
  });
}
process.once('exit', killRunning);

async function runStep(step: Step): Promise<{ ok: boolean; seconds: number; exit: string }> {
  await rm(`${RESULTS_DIR}${step.resultFile}`, { force: true });
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', step.script, ...step.args], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    // The e2e and position scripts always write to bench/results/, so every step does here.
    env: { ...process.env, BENCH_RESULTS_DIR: RESULTS_DIR, ...step.env },
    stdio: 'inherit',
    detached: true,
  });
  running = child.pid;
  const timer = setTimeout(() => {
    process.stderr.write(`bench: ${step.label} still running after ${step.timeoutSeconds} s; stopping it\n`);
    killRunning();
  }, step.timeoutSeconds * 1000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  // Whatever the step left behind in its group (it should have stopped everything itself).
  killRunning();
  running = undefined;
  const seconds = round((performance.now() - started) / 1000, 1);
  if (code === 0 && step.copyTo !== undefined)
    await copyFile(`${RESULTS_DIR}${step.resultFile}`, `${RESULTS_DIR}${step.copyTo}`);
  return { ok: code === 0, seconds, exit: signal ?? String(code) };
}

type Json = Record<string, unknown>;
const num = (value: unknown): number => (typeof value === 'number' ? value : Number.NaN);
const at = (value: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>(
    (node, key) => (node !== null && typeof node === 'object' ? (node as Json)[key] : undefined),
    value,
  );

/** The key figures of one step's result. */
function figuresOf(step: Step, result: Json): Figure[] {
  const f = (figure: string, value: string): Figure => ({ scenario: step.label, figure, value });
  switch (step.scenario) {
    case 'overhead': {
      const s = at(result, 'summary');
      return [
        f(
          'jobs/s bare → wrapped (median), ratio',
          `${num(at(s, 'bareJobsPerSecondMedian'))} → ${num(at(s, 'wrappedJobsPerSecondMedian'))}, ×${num(at(s, 'ratioWrappedToBare'))}`,
        ),
        f(
          'jobs/s wrapped with progressThrottleMs 0, ratio',
          `${num(at(s, 'wrappedThrottle0JobsPerSecondMedian'))}, ×${num(at(s, 'ratioWrappedThrottle0ToBare'))}`,
        ),
        f(
          'publisher lag after the last job (default / throttle 0)',
          `${num(at(s, 'publisherLagLastJobMsMedian'))} ms / ${num(at(s, 'publisherLagLastJobMsMedianThrottle0'))} ms`,
        ),
        f(
          'publisher lag per job p50 / p99 (default throttle)',
          `${num(at(s, 'publisherLagPerJobP50MsMedian'))} / ${num(at(s, 'publisherLagPerJobP99MsMedian'))} ms`,
        ),
      ];
    }
    case 'e2e': {
      const latency = at(result, 'latencyMs');
      const publish = at(result, 'toStorePublishMs');
      return [
        f(
          'end to end p50 / p99 / p99.9',
          `${round(num(at(latency, 'p50')))} / ${round(num(at(latency, 'p99')))} / ${round(num(at(latency, 'p999')))} ms`,
        ),
        f('to store PUBLISH p50 / p99', `${round(num(at(publish, 'p50')))} / ${round(num(at(publish, 'p99')))} ms`),
        f(
          'achieved progress events/s, deliveries measured',
          `${num(at(result, 'achieved', 'progressEventsPerSecond'))}/s, ${num(at(result, 'achieved', 'deliveriesMeasured'))}`,
        ),
      ];
    }
    case 'connections': {
      return [
        f(
          'RSS per idle connection (after GC / no GC)',
          `${round(num(at(result, 'memory', 'rssPerConnectionBytes')) / 1024)} / ${round(num(at(result, 'memory', 'rssPerConnectionBeforeGcBytes')) / 1024)} KiB`,
        ),
        f('V8 heap per connection', `${round(num(at(result, 'memory', 'heapPerConnectionBytes')) / 1024)} KiB`),
        f(
          'heartbeat CPU per round (heartbeatMs 1000)',
          `${num(at(result, 'heartbeat', 'cpuMsPerRound'))} ms, ${num(at(result, 'heartbeat', 'cpuUsPerConnectionPerHeartbeat'))} µs per connection`,
        ),
        f(
          'connect ramp',
          `${num(at(result, 'ramp', 'ms'))} ms for ${num(at(result, 'setup', 'connections'))} (${num(at(result, 'ramp', 'connectionsPerSecond'))}/s)`,
        ),
      ];
    }
    case 'reconnect-storm': {
      const storm = at(result, 'storm');
      const audit = at(result, 'audit');
      return [
        f(
          'all caught up; per client p50 / p99',
          `${num(at(storm, 'allCaughtUpMs'))} ms; ${num(at(storm, 'catchUpMs', 'p50'))} / ${num(at(storm, 'catchUpMs', 'p99'))} ms`,
        ),
        f(
          'gaps / duplicates / out of order (clients)',
          `${num(at(audit, 'gaps'))} / ${num(at(audit, 'duplicates'))} / ${num(at(audit, 'outOfOrder'))} (${num(at(audit, 'clients'))})`,
        ),
        f('bridge RSS peak / steady', `×${num(at(storm, 'peakToSteady'))}`),
      ];
    }
    case 'position': {
      const rows = (at(result, 'results') as Json[] | undefined) ?? [];
      return rows.flatMap((row) => {
        const waiting = num(row['waiting']).toLocaleString('en');
        const lookup = at(row, 'lookupCostPerCall');
        return [
          f(
            `${waiting} waiting: one cold lookup (middle of the list), Redis CPU scan → rank index`,
            `${num(at(lookup, 'scan', 'oneJobMiddle', 'redisCpuUsec'))} → ${num(at(lookup, 'indexed', 'oneJobMiddle', 'redisCpuUsec'))} µs`,
          ),
          f(
            `${waiting} waiting: live ticker, 1,000 watched`,
            `${num(at(row, 'ticker', 'redisMsPerSecondScript'))} ms Redis/s (script), ${num(at(row, 'ticker', 'redisCpuMsPerSecondAll'))} ms/s whole server`,
          ),
        ];
      });
    }
    case 'metrics': {
      const paths = (at(result, 'paths') as Json[] | undefined) ?? [];
      return paths.map((row) =>
        f(
          `${String(row['path'])}: events/s off → on, ratio; CPU per event ratio`,
          `${num(at(row, 'off', 'eventsPerSecond'))} → ${num(at(row, 'on', 'eventsPerSecond'))}, ×${num(row['throughputRatio'])}; ×${num(row['cpuRatio'])}`,
        ),
      );
    }
    case 'output': {
      const stream = at(result, 'streaming');
      const rows = (at(result, 'overhead') as Json[] | undefined) ?? [];
      const cpu = (arm: string): number => num(rows.find((row) => row['arm'] === arm)?.['workerCpuMicrosPerCall']);
      return [
        f(
          `chunks/s appended → delivered (${num(at(stream, 'setup', 'jobs'))} jobs × ${num(at(stream, 'setup', 'chunksPerSecondPerJob'))}/s)`,
          `${num(at(stream, 'achieved', 'chunksAppendedPerSecond'))} → ${num(at(stream, 'achieved', 'chunksDeliveredPerSecond'))}`,
        ),
        f(
          'appendOutput → SSE client p50 / p99',
          `${num(at(stream, 'latencyMs', 'p50'))} / ${num(at(stream, 'latencyMs', 'p99'))} ms`,
        ),
        f(
          'out of order or duplicate; Redis bytes per 1,000 chunks',
          `${num(at(stream, 'achieved', 'outOfOrderOrDuplicate'))}; ${num(at(stream, 'redisMemoryBytesPer1000Chunks'))}`,
        ),
        f('worker CPU per call: job.log / appendOutput', `${cpu('job.log')} / ${cpu('appendOutput')} µs`),
      ];
    }
    default:
      return [];
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = await machineInfo('see each scenario');
  console.log(
    `bench (${quick ? 'quick' : 'full'}): ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryTotalMiB} MiB, Node ${machine.node}; load ${loadAverage().join(' ')}`,
  );
  const runs: Json[] = [];
  const figures: Figure[] = [];
  let failed = 0;
  for (const step of steps()) {
    console.log(`\n=== ${step.label}: ${commandOf(step)}`);
    const loadBefore = loadAverage();
    const outcome = await runStep(step);
    let result: Json | undefined;
    if (outcome.ok) {
      try {
        result = JSON.parse(await readFile(`${RESULTS_DIR}${step.copyTo ?? step.resultFile}`, 'utf8')) as Json;
        figures.push(...figuresOf(step, result));
      } catch (error) {
        outcome.ok = false;
        outcome.exit = `no result: ${error instanceof Error ? error.message : String(error)}`;
      }
    }
    if (!outcome.ok) {
      failed += 1;
      figures.push({ scenario: step.label, figure: 'FAILED', value: `exit ${outcome.exit}` });
    }
    runs.push({
      label: step.label,
      command: commandOf(step),
      ok: outcome.ok,
      exit: outcome.exit,
      seconds: outcome.seconds,
      loadAverageBefore: loadBefore,
      loadAverageAfter: loadAverage(),
      resultFile: step.copyTo ?? step.resultFile,
      redis: at(result, 'machine', 'redis') ?? at(result, 'redisVersion') ?? null,
    });
  }
  const seconds = round((performance.now() - started) / 1000, 1);
  console.log(
    `\nbench ${quick ? 'quick' : 'full'}: ${runs.length} runs in ${seconds} s; load ${loadAverage().join(' ')}`,
  );
  console.table(figures.map((figure) => ({ scenario: figure.scenario, figure: figure.figure, value: figure.value })));
  if (markdown) {
    console.log('\n| scenario | figure | value |\n|---|---|---|');
    for (const figure of figures) console.log(`| ${figure.scenario} | ${figure.figure} | ${figure.value} |`);
  }
  process.env['BENCH_RESULTS_DIR'] = RESULTS_DIR;
  const path = await writeResult('summary', {
    quick,
    date: new Date().toISOString(),
    seconds,
    machine: {
      ...machine,
      redis: runs.find((run) => typeof run['redis'] === 'string')?.['redis'] ?? 'unknown',
      loadAverageAtEnd: os.loadavg(),
    },
    runs,
    figures,
  });
  console.log(`wrote ${path}`);
  if (failed > 0) {
    console.error(`${failed} run(s) failed`);
    process.exitCode = 1;
  }
}

await main();
