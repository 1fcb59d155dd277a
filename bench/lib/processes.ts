/**
 * Every child process a scenario starts is registered here and killed when the scenario ends: on a
 * normal exit, on an error, on SIGINT/SIGTERM, and when the scenario's deadline passes (each
 * scenario is bounded in time). Only processes this module spawned or was handed are ever killed,
 * by their own handle.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const children = new Set<ChildProcess>();
let installed = false;

/** Registers `child` so it is killed when this process ends; returns it. */
export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGKILLs every registered child that is still running, except those in `keep`. */
export function killAll(keep: readonly (ChildProcess | undefined)[] = []): void {
  for (const child of children) {
    if (keep.includes(child)) continue;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    children.delete(child);
  }
}

/**
 * Installs the clean-up handlers once, and a deadline: after `deadlineMs` the scenario is aborted
 * (children killed, exit code 1). Returns a function that cancels the deadline.
 */
export function installCleanup(label: string, deadlineMs: number): () => void {
  if (!installed) {
    installed = true;
    process.once('exit', () => killAll());
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        process.stderr.write(`${label}: ${signal}; stopping every process it started\n`);
        killAll();
        process.exit(130);
      });
    }
  }
  const timer = setTimeout(() => {
    process.stderr.write(`${label}: still running after ${Math.round(deadlineMs / 1000)} s; aborting\n`);
    killAll();
    process.exit(1);
  }, deadlineMs);
  timer.unref();
  return () => clearTimeout(timer);
}

/** Forks a TypeScript module of `bench/lib/` under tsx with an IPC channel; registered for clean-up. */
export function forkTs(
  moduleUrl: URL,
  env: Record<string, string> = {},
  execArgv: readonly string[] = [],
): ChildProcess {
  return track(
    fork(fileURLToPath(moduleUrl), [], {
      execArgv: ['--import', 'tsx', ...execArgv],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
}

/** A message of type `type` from `child`, or a rejection when it exits first or `timeoutMs` passes. */
export async function nextMessage<T extends { type: string }>(
  child: ChildProcess,
  type: string,
  timeoutMs: number,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (message: unknown) => {
      if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type) {
        done();
        resolve(message as T);
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      done();
      reject(new Error(`child ${child.pid ?? '?'} exited (${code ?? signal}) before sending '${type}'`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no '${type}' from child ${child.pid ?? '?'} within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/**
 * Sends `message` and waits for the reply of type `replyType`. A child whose channel closed as the
 * message left (it is dying) rejects through its exit, never as an unhandled `EPIPE`.
 */
export async function request<T extends { type: string }>(
  child: ChildProcess,
  message: object,
  replyType: string,
  timeoutMs: number,
): Promise<T> {
  const reply = nextMessage<T>(child, replyType, timeoutMs);
  child.send(message, () => undefined);
  return reply;
}

/**
 * Stops `child` with `signal`, or by closing its IPC channel (`'disconnect'`, for a child that exits
 * normally then, so a `--cpu-prof` is written), SIGKILL after `timeoutMs`, and waits for it to exit.
 */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals | 'disconnect' = 'SIGTERM',
  timeoutMs = 5_000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  if (signal === 'disconnect') child.disconnect();
  else child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}
