/**
 * Serving job output: SSE `job.output` to the job's owner (live, resumed with `outputAfter`, gaps read
 * back from Redis, the `jobId` filter and job-scoped tokens honoured), and
 * `GET /jobs/:id/output?stream=&after=&limit=` (pages, `next`, `done`). Another user and an
 * out-of-scope token get the same 404 as for an unknown job, and no output reaches their streams.
 * Seenn's own React Native SDK parser, fed our bytes, ignores `job.output` and keeps its cursor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { SEENN_RN_LISTENED_EVENTS, SeennRnSseParser } from './fixtures/seenn-rn-sse-parser.js';
import {
  getJson,
  JobWriter,
  RawSseClient,
  RecordingEventSource,
  startBridge,
  type SeenEvent,
  type TestBridge,
} from './helpers.js';

let bridge: TestBridge;
let writer: JobWriter;

beforeAll(async () => {
  bridge = await startBridge();
  writer = new JobWriter(bridge.seenn);
});

afterAll(async () => {
  await bridge.close();
});

function outputs(client: RecordingEventSource): Array<[string, string, number, unknown]> {
  return client
    .ofType('job.output')
    .map((event: SeenEvent) => [
      event.data['jobId'] as string,
      event.data['stream'] as string,
      event.data['seq'] as number,
      event.data['chunk'],
    ]);
}

async function tokenFor(userId: string, jobIds?: string[]): Promise<string> {
  return bridge.seenn.tokens.issue({ userId, ttlSeconds: 300, ...(jobIds === undefined ? {} : { jobIds }) });
}

describe('job.output on the event stream', () => {
  it('sends a job stream from its start on a filtered connect, then live, each chunk once and without id:', async () => {
    await writer.create('out-a', 'oa-1');
    const handle = bridge.seenn.jobs.handle('oa-1');
    await handle.appendOutput('Once');
    await handle.appendOutput({ token: ' upon' });
    const client = new RecordingEventSource(`${bridge.baseUrl}/sse?jobId=oa-1&output=output`, {
      token: await tokenFor('out-a'),
    });
    try {
      await waitFor(() => outputs(client).length === 2, { what: 'the stored chunks' });
      for (const word of [' a', ' time']) await handle.appendOutput(word);
      await waitFor(() => outputs(client).length === 4, { what: 'the live chunks' });
      expect(outputs(client)).toEqual([
        ['oa-1', 'output', 0, 'Once'],
        ['oa-1', 'output', 1, { token: ' upon' }],
        ['oa-1', 'output', 2, ' a'],
        ['oa-1', 'output', 3, ' time'],
      ]);
      // Output never moves the replay cursor: its events carry no id:.
      expect(client.ofType('job.output').map((event) => event.id)).toEqual(['', '', '', '']);
      expect(client.ofType('job.sync')[0]?.id).not.toBe('');
    } finally {
      client.close();
    }
  });

  it('resumes after outputAfter with no gap and no duplicate', async () => {
    await writer.create('out-a', 'oa-2');
    const handle = bridge.seenn.jobs.handle('oa-2');
    for (let i = 0; i < 5; i += 1) await handle.appendOutput(i);
    const token = await tokenFor('out-a');
    const client = new RecordingEventSource(`${bridge.baseUrl}/sse?jobId=oa-2&output=output&outputAfter=2`, { token });
    try {
      await waitFor(() => outputs(client).length === 2, { what: 'the chunks after seq 2' });
      await handle.appendOutput(5);
      await waitFor(() => outputs(client).length === 3, { what: 'the live chunk' });
      expect(outputs(client).map(([, , seq, chunk]) => [seq, chunk])).toEqual([
        [3, 3],
        [4, 4],
        [5, 5],
      ]);
    } finally {
      client.close();
    }
  });

  it('sends stored output a page (200 chunks) per write, each event whole', async () => {
    await writer.create('out-a', 'oa-5');
    const handle = bridge.seenn.jobs.handle('oa-5');
    for (let i = 0; i < 450; i += 1) await handle.appendOutput(`t${i}`);
    await waitFor(
      async () => (await bridge.redis.llen(bridge.seenn.context.keys.outputStream('out-a', 'oa-5', 'output'))) === 450,
      { what: 'the chunks to be stored' },
    );
    const raw = new RawSseClient(bridge.port, `/v1/sse?jobId=oa-5&output=output&outputAfter=-1`, {
      Authorization: `Bearer ${await tokenFor('out-a')}`,
    });
    try {
      await waitFor(() => raw.ofType('job.output').length === 450, { what: 'the stored output' });
      expect(raw.ofType('job.output').map((block) => (JSON.parse(block.data ?? '{}') as { seq: number }).seq)).toEqual(
        Array.from({ length: 450 }, (_, i) => i),
      );
      expect(raw.chunks.filter((chunk) => chunk.includes('event:job.output'))).toHaveLength(3);
    } finally {
      raw.close();
    }
  });

  it('reads chunks the live channel missed back from Redis before the next live one', async () => {
    await writer.create('out-a', 'oa-3');
    const handle = bridge.seenn.jobs.handle('oa-3');
    const client = new RecordingEventSource(`${bridge.baseUrl}/sse?jobId=oa-3&output=output`, {
      token: await tokenFor('out-a'),
    });
    try {
      await waitFor(() => client.ofType('job.sync').length === 1, { what: 'the stream to open' });
      await handle.appendOutput('first');
      await waitFor(() => outputs(client).length === 1, { what: 'the first chunk' });
      // Two chunks stored without a publication (as if Pub/Sub dropped it), then a published one.
      const { keys } = bridge.seenn.context;
      await bridge.redis.rpush(keys.outputStream('out-a', 'oa-3', 'output'), '"lost 1"', '"lost 2"');
      await bridge.redis.hincrby(keys.output('out-a', 'oa-3'), 'c', 2);
      await handle.appendOutput('after');
      await waitFor(() => outputs(client).length === 4, { what: 'the missed chunks and the live one' });
      expect(outputs(client).map(([, , seq, chunk]) => [seq, chunk])).toEqual([
        [0, 'first'],
        [1, 'lost 1'],
        [2, 'lost 2'],
        [3, 'after'],
      ]);
    } finally {
      client.close();
    }
  });

  it('reads what Pub/Sub dropped from Redis once the hub has resubscribed, with no later chunk to show the gap', async () => {
    await writer.create('out-a', 'oa-4');
    const handle = bridge.seenn.jobs.handle('oa-4');
    const client = new RecordingEventSource(`${bridge.baseUrl}/sse?jobId=oa-4&output=output`, {
      token: await tokenFor('out-a'),
    });
    try {
      await handle.appendOutput('before');
      await waitFor(() => outputs(client).length === 1, { what: 'the first chunk' });
      // A chunk stored while the hub's subscriber is away: its publication is lost.
      const { keys } = bridge.seenn.context;
      await bridge.redis.rpush(keys.outputStream('out-a', 'oa-4', 'output'), '"while away"');
      const subscriptions = bridge.router.bridge.stats.hub.subscriptions;
      (
        bridge.router.bridge as unknown as {
          hub: { subscription: { connection: { disconnect(reconnect: boolean): void } } };
        }
      ).hub.subscription.connection.disconnect(true);
      await waitFor(() => bridge.router.bridge.stats.hub.subscriptions > subscriptions, {
        what: 'the hub to resubscribe',
      });
      await waitFor(() => outputs(client).length === 2, { what: 'the dropped chunk' });
      expect(outputs(client).map(([, , seq, chunk]) => [seq, chunk])).toEqual([
        [0, 'before'],
        [1, 'while away'],
      ]);
    } finally {
      client.close();
    }
  });

  it('sends every job and stream live on an unfiltered stream, only of its user and only in a token scope', async () => {
    await writer.create('out-b', 'ob-1');
    await writer.create('out-b', 'ob-2');
    await writer.create('out-c', 'oc-1');
    const all = new RecordingEventSource(`${bridge.baseUrl}/sse`, { token: await tokenFor('out-b') });
    const logOnly = new RecordingEventSource(`${bridge.baseUrl}/sse?output=log`, { token: await tokenFor('out-b') });
    const scoped = new RecordingEventSource(`${bridge.baseUrl}/sse`, { token: await tokenFor('out-b', ['ob-2']) });
    const other = new RecordingEventSource(`${bridge.baseUrl}/sse`, { token: await tokenFor('out-c') });
    const clients = [all, logOnly, scoped, other];
    try {
      await waitFor(
        () =>
          clients.every((client) => client.ofType('connected').length === 1 && client.ofType('job.sync').length >= 1),
        { what: 'four streams open' },
      );
      await bridge.seenn.jobs.handle('ob-1').appendOutput('b1 out');
      await bridge.seenn.jobs.handle('ob-1').appendOutput('b1 log', { stream: 'log' });
      await bridge.seenn.jobs.handle('ob-2').appendOutput('b2 out');
      await bridge.seenn.jobs.handle('oc-1').appendOutput('c1 out');
      await waitFor(
        () =>
          outputs(all).length === 3 &&
          outputs(other).length === 1 &&
          outputs(scoped).length === 1 &&
          outputs(logOnly).length === 1,
        { what: 'live output' },
      );
      expect(outputs(all)).toEqual([
        ['ob-1', 'output', 0, 'b1 out'],
        ['ob-1', 'log', 0, 'b1 log'],
        ['ob-2', 'output', 0, 'b2 out'],
      ]);
      expect(outputs(logOnly)).toEqual([['ob-1', 'log', 0, 'b1 log']]);
      expect(outputs(scoped)).toEqual([['ob-2', 'output', 0, 'b2 out']]);
      expect(outputs(other)).toEqual([['oc-1', 'output', 0, 'c1 out']]);
      expect(JSON.stringify(other.events)).not.toContain('b1');
    } finally {
      for (const client of clients) client.close();
    }
  });

  it("sends a child's output to a stream filtered on, or a token scoped to, its parent", async () => {
    await writer.create('out-p', 'op-parent', { children: 1 });
    await writer.create('out-p', 'op-child', { parentJobId: 'op-parent', childIndex: 0 });
    await writer.create('out-p', 'op-other');
    const filtered = new RecordingEventSource(`${bridge.baseUrl}/sse?jobId=op-parent`, {
      token: await tokenFor('out-p'),
    });
    const scoped = new RecordingEventSource(`${bridge.baseUrl}/sse`, { token: await tokenFor('out-p', ['op-parent']) });
    const clients = [filtered, scoped];
    try {
      await waitFor(() => clients.every((client) => client.ofType('job.sync').length === 2), {
        what: 'the parent and its child synced',
      });
      await bridge.seenn.jobs.handle('op-other').appendOutput('not for them');
      await bridge.seenn.jobs.handle('op-child').appendOutput('child says hi');
      await waitFor(() => clients.every((client) => outputs(client).length === 1), { what: "the child's output" });
      for (const client of clients) expect(outputs(client)).toEqual([['op-child', 'output', 0, 'child says hi']]);
    } finally {
      for (const client of clients) client.close();
    }
  });

  it('refuses another user, an out-of-scope token and bad parameters as for any job', async () => {
    await writer.create('out-d', 'od-1');
    await bridge.seenn.jobs.handle('od-1').appendOutput('secret');
    const stranger = await tokenFor('out-e');
    const narrow = await tokenFor('out-d', ['od-other']);
    const unknown = await getJson(`${bridge.baseUrl}/jobs/nope-1/output`, stranger);
    expect(unknown.status).toBe(404);
    for (const token of [stranger, narrow]) {
      const rest = await getJson(`${bridge.baseUrl}/jobs/od-1/output`, token);
      expect(rest.status).toBe(404);
      expect(rest.body).toEqual({ error: { ...(unknown.body['error'] as object), details: { id: 'od-1' } } });
      expect(JSON.stringify(rest.body)).not.toContain('secret');
      const sse = await fetch(`${bridge.baseUrl}/sse?jobId=od-1&output=output&outputAfter=-1`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(sse.status).toBe(404);
      expect(await sse.text()).not.toContain('secret');
    }
    const owner = await tokenFor('out-d');
    for (const query of [
      'output=a%20b',
      'output=output&outputAfter=0',
      'jobId=od-1&outputAfter=0',
      'jobId=od-1&output=output&outputAfter=-2',
      'jobId=od-1&output=output&outputAfter=x',
    ]) {
      const answer = await getJson(`${bridge.baseUrl}/sse?${query}`, owner);
      expect([query, answer.status, (answer.body['error'] as { code: string }).code]).toEqual([
        query,
        400,
        'VALIDATION_ERROR',
      ]);
    }
    for (const query of ['stream=a%20b', 'after=-2', 'after=1.5', 'limit=0', 'limit=1001']) {
      const answer = await getJson(`${bridge.baseUrl}/jobs/od-1/output?${query}`, owner);
      expect([query, answer.status]).toEqual([query, 400]);
    }
  });
});

describe('GET /jobs/:id/output', () => {
  it('pages a stream with next, and says done once the job has finished', async () => {
    await writer.create('out-f', 'of-1');
    const handle = bridge.seenn.jobs.handle('of-1');
    for (const word of ['a', 'b', 'c', 'd', 'e']) await handle.appendOutput(word);
    await handle.appendOutput({ line: 1 }, { stream: 'log' });
    const token = await tokenFor('out-f');
    const url = `${bridge.baseUrl}/jobs/of-1/output`;
    // Calls made within outputFlushMs are written together when the window ends.
    await waitFor(async () => ((await getJson(`${url}?after=3`, token)).body['chunks'] as unknown[]).length === 1, {
      what: 'the held chunks to be written',
    });
    await waitFor(async () => ((await getJson(`${url}?stream=log`, token)).body['chunks'] as unknown[]).length === 1, {
      what: 'the log chunk to be written',
    });
    expect((await getJson(`${url}?limit=2`, token)).body).toEqual({
      chunks: [
        { seq: 0, chunk: 'a' },
        { seq: 1, chunk: 'b' },
      ],
      next: 1,
      done: false,
    });
    expect((await getJson(`${url}?after=1&limit=2`, token)).body).toEqual({
      chunks: [
        { seq: 2, chunk: 'c' },
        { seq: 3, chunk: 'd' },
      ],
      next: 3,
      done: false,
    });
    expect((await getJson(`${url}?after=3&limit=2`, token)).body).toEqual({
      chunks: [{ seq: 4, chunk: 'e' }],
      done: false,
    });
    expect((await getJson(`${url}?after=4`, token)).body).toEqual({ chunks: [], done: false });
    expect((await getJson(`${url}?stream=log`, token)).body).toEqual({
      chunks: [{ seq: 0, chunk: { line: 1 } }],
      done: false,
    });
    expect((await getJson(`${url}?stream=none`, token)).body).toEqual({ chunks: [], done: false });
    await writer.finish('of-1');
    expect((await getJson(`${url}?after=3`, token)).body).toEqual({ chunks: [{ seq: 4, chunk: 'e' }], done: true });
    // A token scoped to the job reads it too.
    expect((await getJson(`${url}?after=3`, await tokenFor('out-f', ['of-1']))).status).toBe(200);
  });
});

describe("Seenn's React Native SDK parser", () => {
  it('takes job events as before and drops job.output, which no handler of the SDK listens to', async () => {
    await writer.create('out-g', 'og-1');
    const token = await tokenFor('out-g');
    const raw = new RawSseClient(bridge.port, `/v1/sse?userId=out-g`, { Authorization: `Bearer ${token}` });
    try {
      await waitFor(() => raw.ofType('job.sync').length === 1, { what: 'the stream to open' });
      const handle = bridge.seenn.jobs.handle('og-1');
      const ids: string[] = [];
      for (let i = 1; i <= 3; i += 1) {
        await handle.appendOutput(`word ${i} "quoted"\nline`);
        ids.push(await writer.progress('og-1', i * 10));
      }
      ids.push(await writer.finish('og-1'));
      await waitFor(() => raw.ofType('job.output').length === 3 && raw.ofType('job.completed').length === 1, {
        what: 'output and job events',
      });

      const sdk = new SeennRnSseParser();
      const seen: Array<[string, unknown]> = [];
      for (const name of SEENN_RN_LISTENED_EVENTS) sdk.on(name, (data: unknown) => seen.push([name, data]));
      const unknownNames = new Set<string>();
      const emit = sdk.emit.bind(sdk);
      sdk.emit = (name: string | symbol, ...args: unknown[]): boolean => {
        const handled = emit(name, ...args);
        if (!handled) unknownNames.add(String(name));
        return handled;
      };
      // One XHR progress event per HTTP chunk, as the SDK reads them.
      for (const chunk of raw.chunks) sdk.feed(chunk);

      expect([...unknownNames]).toEqual(['job.output']);
      const jobEvents = seen.filter(([name]) => name.startsWith('job.') && name !== 'job.sync');
      expect(jobEvents.map(([name, data]) => [name, (data as { progress: number }).progress])).toEqual([
        ['job.progress', 10],
        ['job.progress', 20],
        ['job.progress', 30],
        ['job.completed', 100],
      ]);
      // job.output carries no id:, so the cursor the SDK sends back is the last job event's.
      expect(sdk.lastEventId).toBe(ids[ids.length - 1]);
    } finally {
      raw.close();
    }
  });
});
