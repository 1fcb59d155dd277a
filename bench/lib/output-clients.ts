/**
 * The client side of `bench/output.ts`, run as its own process: one SSE stream per target with plain
 * `node:http` (`/sse?jobId=…&output=output`), every `job.output` event parsed (JSON.parse of its
 * data); the chunk is `<sentAt>|<n>`, the wall-clock time (ms) the writer stamped just before
 * `appendOutput`. It checks each stream's seqs run 0, 1, 2, … with no gap and no duplicate, and
 * records `now − sentAt` per chunk while recording.
 *
 * IPC: `{ type: 'open', targets: [{ url, token, jobId }] }` → `{ type: 'ready' }` once every stream got
 * `connected`; `{ type: 'record' }` starts recording; `{ type: 'count' }` → `{ type: 'count',
 * receivedTotal }`; `{ type: 'report' }` →
 * `{ type: 'report', latenciesMs, received, receivedTotal, outOfOrder, connected }`, then exits.
 */
import { openStreams, type SseEvent } from './sse-streams.js';

interface Target {
  url: string;
  token: string;
  jobId: string;
}

const wallNow = (): number => performance.timeOrigin + performance.now();
const latenciesMs: number[] = [];
const nextSeq = new Map<string, number>();
let expected = Number.POSITIVE_INFINITY;
let recording = false;
let connected = 0;
let received = 0;
let receivedTotal = 0;
let outOfOrder = 0;

/** Streams connecting at once. */
const CONNECTS_IN_FLIGHT = 128;

function onEvent({ event, data }: SseEvent): void {
  if (event === 'connected') {
    connected += 1;
    if (connected === expected) process.send?.({ type: 'ready' });
  } else if (event === 'job.output') {
    const receivedAt = wallNow();
    const payload = JSON.parse(data) as { jobId: string; seq: number; chunk: string };
    const want = nextSeq.get(payload.jobId) ?? 0;
    if (payload.seq !== want) outOfOrder += 1;
    nextSeq.set(payload.jobId, payload.seq + 1);
    receivedTotal += 1;
    if (recording) {
      received += 1;
      latenciesMs.push(receivedAt - Number(payload.chunk.split('|')[0]));
    }
  }
}

process.on('message', (message: { type: string; targets?: Target[] }) => {
  if (message.type === 'open') {
    const targets = message.targets ?? [];
    expected = targets.length;
    openStreams(targets, { inFlight: CONNECTS_IN_FLIGHT, maxAttempts: 1, label: 'output client', onEvent });
  } else if (message.type === 'record') recording = true;
  else if (message.type === 'count') process.send?.({ type: 'count', receivedTotal });
  else if (message.type === 'report')
    process.send?.({ type: 'report', latenciesMs, received, receivedTotal, outOfOrder, connected }, () =>
      process.exit(0),
    );
});
process.once('disconnect', () => process.exit(0));
