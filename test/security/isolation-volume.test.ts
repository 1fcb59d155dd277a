/**
 * Isolation at volume (issue 13): more than 10,000 generated cross-user cases against one bridge —
 * REST reads of other users' jobs, lists and children; job-scoped tokens reaching past their scope
 * (including tokens that name another user's job); SSE connects filtered on someone else's job or
 * user; replays resumed from another user's event ids; and live events of every user fanned out to
 * every stream. Each case must be refused (401/403/404, or simply never delivered) and no answer may
 * carry another user's data. The seed is printed; `SEENN_ISOLATION_SEED` replays a run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSseClient } from '../bridge/helpers.js';
import { waitFor } from '../helpers/wait.js';
import { markerOf, startTargetApp, type TargetApp } from './app.js';
import { seededRandom } from '../helpers/random.js';

const SEED = Number(process.env['SEENN_ISOLATION_SEED'] ?? Date.now() % 1_000_000);
const random = seededRandom(SEED);
const USERS = Array.from({ length: 20 }, (_, i) => `vol${String(i).padStart(2, '0')}`);
const JOBS_PER_USER = 5;
const REST_CASES = 3_000;
const SSE_REFUSALS = 1_000;
const REPLAYS = 400;
const LIVE_EVENTS = 300;

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

let target: TargetApp;
const own = new Map<string, string>();
const scoped = new Map<string, { token: string; job: string }>();
/** A token of each user naming two jobs of other users (it must grant none of them). */
const foreignScoped = new Map<string, { token: string; jobs: string[] }>();
/** Every replay entry id, with its user. */
const entries: { id: string; user: string }[] = [];
const counts = { rest: 0, scopedRest: 0, sseRefused: 0, replays: 0, liveWithheld: 0, liveDelivered: 0 };

beforeAll(async () => {
  console.info(`isolation volume seed: ${SEED}`);
  target = await startTargetApp(USERS, JOBS_PER_USER);
  for (const user of USERS) {
    own.set(user, await target.seenn.tokens.issue({ userId: user, ttlSeconds: 600 }));
    const job = pick(target.jobsOf.get(user) as string[]);
    scoped.set(user, { token: await target.seenn.tokens.issue({ userId: user, jobIds: [job], ttlSeconds: 600 }), job });
    const jobs = [0, 1].map(() => pick(target.jobsOf.get(pick(USERS.filter((other) => other !== user))) as string[]));
    foreignScoped.set(user, {
      token: await target.seenn.tokens.issue({ userId: user, jobIds: jobs, ttlSeconds: 600 }),
      jobs,
    });
    for (const entry of await target.seenn.context.store.readStream(user, '0-0', 1_000))
      entries.push({ id: entry.id, user });
  }
}, 60_000);

afterAll(async () => {
  console.info(
    `isolation volume cases: ${JSON.stringify({ ...counts, total: Object.entries(counts).reduce((sum, [name, n]) => (name === 'liveDelivered' ? sum : sum + n), 0) })}`,
  );
  await target.close();
});

/** `GET url` with a Bearer token: status and body text. */
async function get(
  path: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const response = await fetch(`${target.origin}${path}`, {
    headers: { ...headers, authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: await response.text() };
}

/** Fails when `body` carries the data of any user but `user`. */
function expectOnly(user: string, body: string, what: string): void {
  for (const other of USERS) {
    if (other === user) continue;
    expect(body.includes(markerOf(other)), `${other}'s data in ${what}`).toBe(false);
    expect(body.includes(`"userId":"${other}"`), `${other}'s job in ${what}`).toBe(false);
  }
}

/** Runs `cases` with at most `width` in flight. */
async function inParallel<T>(cases: readonly T[], width: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < cases.length) await run(cases[next++] as T);
    }),
  );
}

describe('isolation at volume', () => {
  it(`${REST_CASES} REST reads of other users' jobs, children and lists, and scoped tokens past their scope: all refused`, async () => {
    type Case = {
      attacker: string;
      victim: string;
      kind: 'own' | 'scoped' | 'foreign-scoped';
      route: 'job' | 'children' | 'output' | 'list-victim' | 'list-own' | 'own-outside-scope';
    };
    const cases: Case[] = Array.from({ length: REST_CASES }, () => {
      const attacker = pick(USERS);
      return {
        attacker,
        victim: pick(USERS.filter((user) => user !== attacker)),
        kind: pick(['own', 'scoped', 'foreign-scoped'] as const),
        route: pick(['job', 'job', 'children', 'output', 'list-victim', 'list-own', 'own-outside-scope'] as const),
      };
    });
    await inParallel(cases, 24, async ({ attacker, victim, kind, route }) => {
      const token =
        kind === 'own'
          ? (own.get(attacker) as string)
          : kind === 'scoped'
            ? (scoped.get(attacker)?.token as string)
            : (foreignScoped.get(attacker)?.token as string);
      // A foreign-scoped token's own named jobs are the most tempting targets.
      const victimJob =
        kind === 'foreign-scoped' && random() < 0.5
          ? (foreignScoped.get(attacker)?.jobs[0] as string)
          : pick(target.jobsOf.get(victim) as string[]);
      let path: string;
      let expected: number;
      switch (route) {
        case 'job':
          [path, expected] = [`/v1/jobs/${victimJob}`, 404];
          break;
        case 'children':
          [path, expected] = [`/v1/jobs/${victimJob}/children`, 404];
          break;
        case 'output':
          [path, expected] = [`/v1/jobs/${victimJob}/output`, 404];
          break;
        case 'list-victim':
          [path, expected] = [`/v1/jobs?userId=${victim}`, 403];
          break;
        case 'list-own':
          [path, expected] = ['/v1/jobs?limit=100', 200];
          break;
        case 'own-outside-scope': {
          const outside = (target.jobsOf.get(attacker) as string[]).filter(
            (id) => kind !== 'scoped' || id !== scoped.get(attacker)?.job,
          );
          [path, expected] = [`/v1/jobs/${pick(outside)}`, kind === 'own' ? 200 : 404];
          if (kind !== 'own') counts.scopedRest += 1;
          break;
        }
      }
      const answer = await get(path, token);
      const what = `${kind} token of ${attacker} → ${path}`;
      expect(answer.status, what).toBe(expected);
      expectOnly(attacker, answer.body, what);
      if (route === 'list-own') {
        const ids = (JSON.parse(answer.body) as { jobs: { id: string }[] }).jobs.map((job) => job.id).sort();
        const allowed =
          kind === 'own'
            ? (target.jobsOf.get(attacker) as string[])
            : kind === 'scoped'
              ? [scoped.get(attacker)?.job as string]
              : [];
        expect(ids, what).toEqual([...allowed].sort());
      }
      counts.rest += 1;
    });
    expect(counts.rest).toBe(REST_CASES);
  }, 60_000);

  it(`${SSE_REFUSALS} stream connects filtered on another user's job or user, or past a token's scope: all refused`, async () => {
    const cases = Array.from({ length: SSE_REFUSALS }, () => {
      const attacker = pick(USERS);
      const victim = pick(USERS.filter((user) => user !== attacker));
      return { attacker, victim, kind: pick(['job', 'user', 'scope', 'foreign-scope'] as const) };
    });
    await inParallel(cases, 24, async ({ attacker, victim, kind }) => {
      let path: string;
      let token: string;
      let expected: number;
      if (kind === 'job')
        [path, token, expected] = [
          `/v1/sse?jobId=${pick(target.jobsOf.get(victim) as string[])}`,
          own.get(attacker) as string,
          404,
        ];
      else if (kind === 'user')
        [path, token, expected] = [`/v1/sse?userId=${victim}`, own.get(attacker) as string, 403];
      else if (kind === 'scope') {
        const outside = (target.jobsOf.get(attacker) as string[]).filter((id) => id !== scoped.get(attacker)?.job);
        [path, token, expected] = [`/v1/sse?jobId=${pick(outside)}`, scoped.get(attacker)?.token as string, 404];
      } else
        [path, token, expected] = [
          `/v1/sse?jobId=${foreignScoped.get(attacker)?.jobs[0] as string}`,
          foreignScoped.get(attacker)?.token as string,
          404,
        ];
      const answer = await get(path, token, { accept: 'text/event-stream' });
      expect(answer.status, `${kind}: ${attacker} → ${path}`).toBe(expected);
      expectOnly(attacker, answer.body, path);
      counts.sseRefused += 1;
    });
    expect(counts.sseRefused).toBe(SSE_REFUSALS);
  }, 60_000);

  it(`${REPLAYS} replays resumed from another user's event ids deliver only the user's own events`, async () => {
    const cases = Array.from({ length: REPLAYS }, () => {
      const attacker = pick(USERS);
      const cursor = pick(entries.filter((entry) => entry.user !== attacker)).id;
      return {
        attacker,
        cursor,
        kind: pick(['own', 'scoped', 'foreign-scoped'] as const),
        via: pick(['header', 'query'] as const),
      };
    });
    let ownDelivered = 0;
    await inParallel(cases, 16, async ({ attacker, cursor, kind, via }) => {
      const token =
        kind === 'own'
          ? (own.get(attacker) as string)
          : kind === 'scoped'
            ? (scoped.get(attacker)?.token as string)
            : (foreignScoped.get(attacker)?.token as string);
      const visible =
        kind === 'own'
          ? (target.jobsOf.get(attacker) as string[])
          : kind === 'scoped'
            ? [scoped.get(attacker)?.job as string]
            : [];
      // What the user's own stream holds after that cursor, for the jobs the token may see.
      const expected = entries.filter((entry) => entry.user === attacker && compareIds(entry.id, cursor) > 0).length;
      const client = new RawSseClient(
        target.port,
        `/v1/sse?${via === 'query' ? `lastEventId=${cursor}&` : ''}token=${token}`,
        via === 'header' ? { 'Last-Event-ID': cursor } : {},
      );
      try {
        await waitFor(() => client.ofType('connected').length === 1, {
          what: `replay stream of ${attacker}`,
          timeoutMs: 10_000,
        });
        if (kind === 'own' && expected > 0)
          await waitFor(() => client.ofType('job.started', 'job.progress', 'job.sync').length >= 1, {
            what: `own replay of ${attacker}`,
            timeoutMs: 10_000,
          });
        for (const block of client.blocks) {
          if (block.data === undefined) continue;
          expectOnly(attacker, block.data, `replay of ${attacker} after ${cursor}`);
          if (!(block.event ?? '').startsWith('job.')) continue;
          const job = JSON.parse(block.data) as { id?: string; userId?: string };
          if (job.userId !== undefined) {
            expect(job.userId).toBe(attacker);
            expect(visible).toContain(job.id);
            ownDelivered += 1;
          }
        }
      } finally {
        client.close();
      }
      counts.replays += 1;
    });
    expect(counts.replays).toBe(REPLAYS);
    expect(ownDelivered).toBeGreaterThan(0);
  }, 60_000);

  it(`${LIVE_EVENTS} live events of every user fanned out to own, scoped and filtered streams of every user: each reaches only its own`, async () => {
    type Stream = { user: string; visible: Set<string>; client: RawSseClient };
    const streams: Stream[] = [];
    for (const user of USERS) {
      const jobs = target.jobsOf.get(user) as string[];
      const filter = pick(jobs);
      const after = entries.reduce((max, entry) => (compareIds(entry.id, max) > 0 ? entry.id : max), '0-0');
      streams.push({
        user,
        visible: new Set(jobs),
        client: new RawSseClient(target.port, `/v1/sse?token=${own.get(user) as string}`, { 'Last-Event-ID': after }),
      });
      streams.push({
        user,
        visible: new Set([scoped.get(user)?.job as string]),
        client: new RawSseClient(target.port, `/v1/sse?token=${scoped.get(user)?.token as string}`, {
          'Last-Event-ID': after,
        }),
      });
      streams.push({
        user,
        visible: new Set([filter]),
        client: new RawSseClient(target.port, `/v1/sse?jobId=${filter}&token=${own.get(user) as string}`, {
          'Last-Event-ID': after,
        }),
      });
      streams.push({
        user,
        visible: new Set(),
        client: new RawSseClient(target.port, `/v1/sse?token=${foreignScoped.get(user)?.token as string}`, {
          'Last-Event-ID': after,
        }),
      });
    }
    try {
      // A stream whose token sees no job may be refused outright; any other must open.
      await waitFor(
        () =>
          streams.every(
            (stream) =>
              stream.client.ofType('connected').length === 1 ||
              (stream.visible.size === 0 && stream.client.status >= 400),
          ),
        { what: 'every stream connected', timeoutMs: 20_000 },
      );
      const allJobs = [...target.ownerOf.keys()];
      const written: { id: string; jobId: string; user: string }[] = [];
      for (let n = 0; n < LIVE_EVENTS; n += 1) {
        const jobId = pick(allJobs);
        const user = target.ownerOf.get(jobId) as string;
        written.push({ id: await target.writer.progress(jobId, n % 100, `${markerOf(user)} live ${n}`), jobId, user });
      }
      for (const stream of streams) {
        const expected = written.filter((event) => event.user === stream.user && stream.visible.has(event.jobId));
        const live = (): string[] =>
          stream.client.blocks.filter((block) => block.event === 'job.progress').map((block) => block.id ?? '');
        await waitFor(() => live().length >= expected.length, {
          what: `live events of ${stream.user}`,
          timeoutMs: 20_000,
        });
        for (const block of stream.client.blocks)
          if (block.data !== undefined) expectOnly(stream.user, block.data, `live stream of ${stream.user}`);
        expect(live()).toEqual(expected.map((event) => event.id));
        counts.liveDelivered += expected.length;
        counts.liveWithheld += written.length - expected.length;
      }
    } finally {
      for (const stream of streams) stream.client.close();
    }
    expect(counts.liveWithheld).toBeGreaterThan(LIVE_EVENTS * (streams.length - 4));
    // With the other cases: well over 10,000 cross-user cases, every one refused.
    expect(counts.rest + counts.sseRefused + counts.replays + counts.liveWithheld).toBeGreaterThan(10_000);
  }, 60_000);
});

/** Orders two stream ids (`ms-seq`). */
function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am === bm ? as - bs : am - bm;
}
