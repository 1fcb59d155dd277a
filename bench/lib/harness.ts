/**
 * What every scenario script shares: the `--quick` flag, the machine description that goes into each
 * result, percentiles, and writing `bench/results/<name>.json`.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

/** Where result files go (gitignored, except `.gitkeep`). */
export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/** Where this process writes its result: `BENCH_RESULTS_DIR` when set (tests use a temporary one), else {@link RESULTS_DIR}. */
export function resultsDir(): string {
  const dir = process.env['BENCH_RESULTS_DIR'];
  return dir ? `${dir.replace(/\/+$/, '')}/` : RESULTS_DIR;
}

/** Whether the short CI mode was asked for: `--quick` on the command line or `BENCH_QUICK=1`. */
export function isQuick(argv: readonly string[] = process.argv.slice(2)): boolean {
  return argv.includes('--quick') || process.env['BENCH_QUICK'] === '1';
}

/** The machine a figure was measured on. */
export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryTotalMiB: number;
  node: string;
  redis: string;
  platform: string;
  /** `ulimit -n` of this process (soft), from `/proc/self/limits` when readable. */
  openFilesLimit: number | null;
}

/** The machine, with the Redis version given by the caller (`INFO server`). */
export async function machineInfo(redisVersion: string): Promise<MachineInfo> {
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryTotalMiB: Math.round(os.totalmem() / 1024 / 1024),
    node: process.version,
    redis: redisVersion,
    platform: `${os.type()} ${os.release()}`,
    openFilesLimit: await openFilesLimit(),
  };
}

/** The soft limit on open files of this process (`null` when `/proc/self/limits` is not there). */
export async function openFilesLimit(): Promise<number | null> {
  try {
    const text = await readFile('/proc/self/limits', 'utf8');
    const match = /^Max open files\s+(\d+)/m.exec(text);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** The 1, 5 and 15 minute load averages, rounded to 2 decimals (the machine is shared). */
export function loadAverage(): [number, number, number] {
  const [a = 0, b = 0, c = 0] = os.loadavg();
  return [round(a, 2), round(b, 2), round(c, 2)];
}

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** The nearest-rank percentile `p` (0–100) of ascending `sorted` values; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** The median of `values` (any order); NaN when empty. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Percentiles of a sample, in the sample's unit, rounded to 2 decimals. */
export interface Summary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Summarises `values` (any order). */
export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    p999: round(percentile(sorted, 99.9)),
    max: round(sorted.at(-1) ?? Number.NaN),
  };
}

/** Writes `data` as `<results dir>/<name>.json` (see {@link resultsDir}) and returns the path. */
export async function writeResult(name: string, data: unknown): Promise<string> {
  const dir = resultsDir();
  await mkdir(dir, { recursive: true });
  const path = `${dir}${name}.json`;
  await writeFile(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes on one host. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}
