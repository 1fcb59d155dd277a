/**
 * Running a bench script the way its tests do: in its own process group (so a test that fails half-way
 * can stop all of it), with its results in a temporary directory, and checking that it left no keys.
 * One run at a time per test file; call {@link cleanUpRun} in `afterEach`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../helpers/redis.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let child: ChildProcess | undefined;
let dir: string | undefined;

/** A fresh directory for the run's results (`BENCH_RESULTS_DIR`), removed by {@link cleanUpRun}. */
export async function resultsDir(label: string): Promise<string> {
  dir = await mkdtemp(path.join(os.tmpdir(), `${label}-`));
  return dir;
}

/** Runs `script` with tsx from the repository root to its end; `killAfterMs` stops its process group. */
export async function runBenchScript(
  script: string,
  args: string[],
  env: Record<string, string>,
  killAfterMs?: number,
): Promise<{ code: number | null; output: string }> {
  const started = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child = started;
  let output = '';
  started.stdout?.on('data', (data: Buffer) => (output += data.toString()));
  started.stderr?.on('data', (data: Buffer) => (output += data.toString()));
  const timer =
    killAfterMs === undefined
      ? undefined
      : setTimeout(() => started.pid !== undefined && process.kill(-started.pid, 'SIGKILL'), killAfterMs);
  const [code] = (await once(started, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

/** For `afterEach`: stops the run's process group if it still runs, and removes its results. */
export async function cleanUpRun(): Promise<void> {
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null)
    process.kill(-child.pid, 'SIGKILL');
  child = undefined;
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
}

/** The keys of the test Redis matching `pattern` (a run must leave none of its own behind). */
export async function keysLeft(pattern: string): Promise<string[]> {
  const redis = connect();
  try {
    const left: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 10_000);
      left.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    return left;
  } finally {
    redis.disconnect();
  }
}
