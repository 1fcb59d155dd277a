/**
 * Spreads the clients of `bench/lib/sse-clients.ts` over several processes: when that script runs with
 * `BENCH_CLIENT_PROCESSES=N` (N > 1) it becomes a coordinator that forks N copies of itself (each with
 * `BENCH_CLIENT_PROCESSES=1`), speaks the same IPC protocol to its parent, and relays:
 * - `open`: the streams are shared out evenly (stream by stream, round robin); only the first copy
 *   listens to the store's live channel; `ready` once every copy is ready;
 * - `record`: sent to every copy;
 * - `report`: every copy's report, merged (latencies concatenated, counts summed), then it exits.
 * The copies exit when the coordinator goes away (even when it is SIGKILLed: their IPC channel closes).
 */
import { fork, type ChildProcess } from 'node:child_process';

/** One target of an `open` message: `count` streams to `url` with `token`. */
export interface PoolTarget {
  url: string;
  token: string;
  count: number;
}

interface OpenMessage {
  type: 'open';
  targets: PoolTarget[];
  redisUrl?: string;
  channel?: string;
}

interface LeafReport {
  type: 'report';
  latenciesMs: number[];
  publishLatenciesMs: number[];
  received: number;
  connected: number;
}

/** Shares `targets` out over `processes` copies, one stream at a time, keeping targets grouped. */
export function splitTargets(targets: readonly PoolTarget[], processes: number): PoolTarget[][] {
  const shares = Array.from({ length: processes }, () => new Map<PoolTarget, number>());
  let next = 0;
  for (const target of targets) {
    for (let i = 0; i < target.count; i += 1) {
      const share = shares[next++ % processes] as Map<PoolTarget, number>;
      share.set(target, (share.get(target) ?? 0) + 1);
    }
  }
  return shares.map((share) => [...share].map(([target, count]) => ({ ...target, count })));
}

/** Runs the coordinator: forks `processes` copies of `script` and relays the parent's messages. */
export function runClientPool(script: string, processes: number): void {
  const leaves: ChildProcess[] = Array.from({ length: processes }, () =>
    fork(script, [], {
      execArgv: process.execArgv,
      env: { ...process.env, BENCH_CLIENT_PROCESSES: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const killLeaves = () => {
    for (const leaf of leaves) if (leaf.exitCode === null && leaf.signalCode === null) leaf.kill('SIGKILL');
  };
  process.once('exit', killLeaves);
  process.once('disconnect', () => process.exit(0));

  let ready = 0;
  const reports: LeafReport[] = [];
  for (const leaf of leaves) {
    leaf.on('message', (message: { type: string }) => {
      if (message.type === 'ready' && ++ready === leaves.length) process.send?.({ type: 'ready' });
      if (message.type === 'report') {
        reports.push(message as LeafReport);
        if (reports.length === leaves.length) {
          const merged: LeafReport = {
            type: 'report',
            latenciesMs: reports.flatMap((report) => report.latenciesMs),
            publishLatenciesMs: reports.flatMap((report) => report.publishLatenciesMs),
            received: reports.reduce((sum, report) => sum + report.received, 0),
            connected: reports.reduce((sum, report) => sum + report.connected, 0),
          };
          process.send?.(merged, () => process.exit(0));
        }
      }
    });
    leaf.once('exit', (code) => {
      if (reports.length < leaves.length && code !== 0)
        process.stderr.write(`sse client process exited with ${code ?? 'a signal'}\n`);
    });
  }

  process.on('message', (message: { type: string }) => {
    if (message.type === 'open') {
      const { targets, redisUrl, channel } = message as OpenMessage;
      const shares = splitTargets(targets, leaves.length);
      leaves.forEach((leaf, i) => {
        const share = shares[i] ?? [];
        // A copy with nothing to open is ready as it is (it would never see a `connected` event).
        if (share.length === 0 && ++ready === leaves.length) process.send?.({ type: 'ready' });
        leaf.send(
          i === 0 && redisUrl !== undefined && channel !== undefined
            ? { type: 'open', targets: share, redisUrl, channel }
            : { type: 'open', targets: share },
        );
      });
    } else {
      for (const leaf of leaves) leaf.send(message);
    }
  });
}
