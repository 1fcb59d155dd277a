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
import http from 'node:http';

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

function openAll(targets: readonly Target[]): void {
  let next = 0;
  const launch = (): void => {
    const target = targets[next++];
    if (target !== undefined) open(target, launch);
  };
  for (let i = 0; i < Math.min(CONNECTS_IN_FLIGHT, targets.length); i += 1) launch();
}

function open(target: Target, settled: () => void): void {
  let announced = false;
  const settle = (): void => {
    if (announced) return;
    announced = true;
    settled();
  };
  const request = http.get(
    target.url,
    { headers: { Authorization: `Bearer ${target.token}`, Accept: 'text/event-stream' }, agent: false },
    (response) => {
      if (response.statusCode !== 200) {
        process.stderr.write(`output client: HTTP ${response.statusCode ?? '?'}\n`);
        response.resume();
        settle();
        return;
      }
      response.setEncoding('utf8');
      let buffer = '';
      response.on('data', (text: string) => {
        buffer += text;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          if (onEvent(buffer.slice(0, end)) === 'connected') settle();
          buffer = buffer.slice(end + 2);
        }
      });
    },
  );
  request.on('error', (error) => {
    process.stderr.write(`output client: ${error.message}\n`);
    settle();
  });
}

function onEvent(block: string): string {
  let event = '';
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data = line.slice(5).trim();
  }
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
  return event;
}

process.on('message', (message: { type: string; targets?: Target[] }) => {
  if (message.type === 'open') {
    const targets = message.targets ?? [];
    expected = targets.length;
    openAll(targets);
  } else if (message.type === 'record') recording = true;
  else if (message.type === 'count') process.send?.({ type: 'count', receivedTotal });
  else if (message.type === 'report')
    process.send?.({ type: 'report', latenciesMs, received, receivedTotal, outOfOrder, connected }, () =>
      process.exit(0),
    );
});
process.once('disconnect', () => process.exit(0));
