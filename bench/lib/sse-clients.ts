/**
 * The client side of `bench/e2e-latency.ts`, run as its own process: opens one SSE connection per
 * target with plain `node:http`, parses every event (JSON.parse of its data), and for each
 * `job.progress` records `now − sentAt`, where `sentAt` is the wall-clock time (ms, sub-ms precision)
 * the worker put in the job's `message` just before calling `setProgress`.
 *
 * To split the latency in two, it also subscribes to the store's live channel (what the bridge's hub
 * listens to) and records `now − sentAt` when each notification arrives: the time to the store's
 * PUBLISH, before the bridge.
 *
 * IPC from the parent: `{ type: 'open', targets: [{ url, token, count }], redisUrl, channel }` opens
 * `count` streams per target (at most `BENCH_CONNECTS_IN_FLIGHT`, default 256, connecting at once;
 * a stream whose connection fails before `connected` is retried up to 5 times) and answers
 * `{ type: 'ready' }` once every one got its `connected` event;
 * `{ type: 'record' }` starts recording; `{ type: 'report' }` sends `{ type: 'report', latenciesMs,
 * publishLatenciesMs, received, connected }` and exits.
 *
 * `BENCH_CLIENT_PROCESSES=N` (env, N > 1) spreads the streams over N processes behind the same
 * protocol (see `sse-client-pool.ts`); the default, 1, opens them all here.
 */
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { runClientPool } from './sse-client-pool.js';
import { openStreams, type SseEvent } from './sse-streams.js';

interface Target {
  url: string;
  token: string;
  count: number;
}

let expected = Number.POSITIVE_INFINITY;
const wallNow = (): number => performance.timeOrigin + performance.now();
const latenciesMs: number[] = [];
const publishLatenciesMs: number[] = [];
let recording = false;
let connected = 0;
let received = 0;

/** Streams waiting for their `connected` event at most at once, per process (a connect storm only fills the listen backlog). */
const CONNECTS_IN_FLIGHT = Number(process.env['BENCH_CONNECTS_IN_FLIGHT'] ?? 256);
/** Tries per stream when the connection fails before `connected` (e.g. a reset under a connect storm). */
const MAX_ATTEMPTS = 5;

/** Opens `count` streams per target, keeping at most {@link CONNECTS_IN_FLIGHT} connects in flight. */
function openAll(targets: readonly Target[]): void {
  const queue = targets.flatMap((target) => Array.from({ length: target.count }, () => target));
  openStreams(queue, { inFlight: CONNECTS_IN_FLIGHT, maxAttempts: MAX_ATTEMPTS, label: 'sse client', onEvent });
}

/** Handles one event block. */
function onEvent({ event, data }: SseEvent): void {
  const payload = JSON.parse(data) as { message?: string };
  if (event === 'connected') {
    connected += 1;
    if (connected === expected) process.send?.({ type: 'ready' });
  } else if (event === 'job.progress' && recording) {
    const receivedAt = wallNow();
    received += 1;
    latenciesMs.push(receivedAt - Number(payload.message));
  }
}

function listen(redisUrl: string, channel: string): void {
  const subscriber = new Redis(redisUrl);
  subscriber.on('message', (_channel: string, text: string) => {
    if (!recording) return;
    const receivedAt = wallNow();
    // One message per commit: the user, then entry id, event name and payload of each event.
    const lines = text.split('\n');
    for (let i = 3; i < lines.length; i += 3) {
      const sentAt = Number((JSON.parse(lines[i] as string) as { message?: string }).message);
      if (Number.isFinite(sentAt)) publishLatenciesMs.push(receivedAt - sentAt);
    }
  });
  void subscriber.subscribe(channel);
}

const handleMessage = (message: { type: string; targets?: Target[]; redisUrl?: string; channel?: string }) => {
  if (message.type === 'open') {
    if (message.redisUrl !== undefined && message.channel !== undefined) listen(message.redisUrl, message.channel);
    const targets = message.targets ?? [];
    expected = targets.reduce((sum, target) => sum + target.count, 0);
    openAll(targets);
  } else if (message.type === 'record') recording = true;
  else if (message.type === 'report') {
    process.send?.({ type: 'report', latenciesMs, publishLatenciesMs, received, connected }, () => process.exit(0));
  }
};

// With BENCH_CLIENT_PROCESSES=N (N > 1) this process only coordinates N copies of itself (see
// sse-client-pool.ts); each copy opens its share of the streams. A copy exits with its parent.
const processes = Number(process.env['BENCH_CLIENT_PROCESSES'] ?? 1);
if (processes > 1) runClientPool(fileURLToPath(import.meta.url), processes);
else {
  process.on('message', handleMessage);
  process.once('disconnect', () => process.exit(0));
}
