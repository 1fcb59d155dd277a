/**
 * Runs `examples/demo.ts` as a child process for tests: with the test Redis, a free port and fast
 * stages; resolves once it prints its URL; collects its output; stops it with SIGINT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A running demo. */
export interface DemoProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The Redis key prefix of this run. */
  prefix: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Sends SIGINT and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts the demo with `env` added to the test environment; rejects if it exits or stays silent for `timeoutMs`. */
export async function startDemo(
  env: Record<string, string> = {},
  args: string[] = [],
  timeoutMs = 30_000,
): Promise<DemoProcess> {
  const redisUrl = process.env['SEENN_TEST_REDIS_URL'];
  if (!redisUrl) throw new Error('SEENN_TEST_REDIS_URL is not set: run through vitest');
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts', ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      REDIS_URL: redisUrl,
      PORT: '0',
      HOST: '127.0.0.1',
      DEMO_STAGE_MS: '900',
      DEMO_IMAGE_MS: '600',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = once(child, 'exit');
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the demo did not get ready within ${timeoutMs} ms:\n${text}`)),
      timeoutMs,
    );
    const check = (): void => {
      const match = /ready on http:\/\/localhost:(\d+)/.exec(text);
      if (match?.[1] === undefined) return;
      clearTimeout(timer);
      resolve(Number(match[1]));
    };
    child.stdout?.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the demo exited before it was ready:\n${text}`));
    });
  });
  const prefix = /key prefix (\S+)/.exec(text)?.[1] ?? '';
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    prefix,
    output: () => text,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
      return child.exitCode;
    },
  };
}

/** Waits for the process to exit by itself; resolves with its exit code and output. */
export async function runDemo(
  env: Record<string, string>,
  args: string[],
  timeoutMs = 90_000,
): Promise<{ code: number | null; output: string }> {
  const redisUrl = process.env['SEENN_TEST_REDIS_URL'] ?? '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts', ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      REDIS_URL: redisUrl,
      PORT: '0',
      HOST: '127.0.0.1',
      DEMO_STAGE_MS: '300',
      DEMO_IMAGE_MS: '200',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await once(child, 'exit');
  clearTimeout(timer);
  return { code: child.exitCode, output: text };
}
