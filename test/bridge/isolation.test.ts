/**
 * Isolation, property-style: many users and jobs, random credentials (own, other users', scoped,
 * expired, tampered, forged, foreign-app) against random job ids, over REST and SSE. A model says what
 * each request may see; no job or event of one user may ever reach another. Every case is counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Seenn } from '../../src/seenn.js';
import { connect, uniquePrefix } from '../helpers/redis.js';
import { forgeToken } from '../helpers/forged-token.js';
import { waitFor } from '../helpers/wait.js';
import { JobWriter, RawSseClient, SECRET, getJson, startBridge, type TestBridge } from './helpers.js';
import { seededRandom } from '../helpers/random.js';

const SEED = Number(process.env['SEENN_ISOLATION_SEED'] ?? Date.now() % 1_000_000);
const USERS = Array.from({ length: 8 }, (_, i) => `iso-user-${i}`);
const JOBS_PER_USER = 4;
const REST_CASES = 1500;

/** A credential and what it grants, per the model. */
interface Credential {
  kind: 'own' | 'scoped' | 'expired' | 'tampered' | 'wrong-secret' | 'foreign-app' | 'garbage' | 'missing';
  token: string | undefined;
  /** The user it grants, or null when it must be refused (401). */
  grants: string | null;
  scope?: readonly string[];
}

let bridge: TestBridge;
let writer: JobWriter;
let foreignApp: Seenn;
const jobsOf = new Map<string, string[]>();
const ownerOf = new Map<string, string>();
const random = seededRandom(SEED);

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

beforeAll(async () => {
  console.info(`isolation seed: ${SEED}`);
  bridge = await startBridge({ rateLimit: null, maxStreamsPerUser: 100 });
  writer = new JobWriter(bridge.seenn);
  foreignApp = new Seenn({
    connection: connect(),
    appId: 'foreign',
    prefix: uniquePrefix('foreign'),
    tokenSecret: SECRET,
  });
  for (const user of USERS) {
    const ids: string[] = [];
    for (let j = 0; j < JOBS_PER_USER; j += 1) {
      const id = `${user}-job-${j}-${Math.floor(random() * 1e9).toString(36)}`;
      await writer.create(user, id);
      ids.push(id);
      ownerOf.set(id, user);
    }
    jobsOf.set(user, ids);
  }
});

afterAll(async () => {
  await bridge.close();
  await foreignApp.close();
  await foreignApp.context.redis.quit();
});

async function credential(kind: Credential['kind'], user: string): Promise<Credential> {
  const now = Math.floor(Date.now() / 1000);
  const sign = (secret: string, sub: string, iat: number, exp: number) => forgeToken({ secret, sub, iat, exp });
  switch (kind) {
    case 'own':
      return { kind, token: await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 120 }), grants: user };
    case 'scoped': {
      const scope = [pick(jobsOf.get(user) as string[])];
      return {
        kind,
        token: await bridge.seenn.tokens.issue({ userId: user, jobIds: scope, ttlSeconds: 120 }),
        grants: user,
        scope,
      };
    }
    case 'expired':
      return { kind, token: await sign(SECRET, user, now - 600, now - 1), grants: null };
    case 'tampered': {
      // A valid token of `user` whose payload is rewritten to name another user.
      const [header, payload, signature] = (await bridge.seenn.tokens.issue({ userId: user, ttlSeconds: 120 })).split(
        '.',
      ) as [string, string, string];
      const other = pick(USERS.filter((candidate) => candidate !== user));
      const forged = Buffer.from(
        JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: other }),
      ).toString('base64url');
      return { kind, token: `${header}.${forged}.${signature}`, grants: null };
    }
    case 'wrong-secret':
      return {
        kind,
        token: await sign('not-the-secret-not-the-secret-not-the-secret', user, now, now + 120),
        grants: null,
      };
    case 'foreign-app':
      return { kind, token: await foreignApp.tokens.issue({ userId: user, ttlSeconds: 120 }), grants: null };
    case 'garbage':
      return { kind, token: Buffer.from(String(random())).toString('base64url'), grants: null };
    case 'missing':
      return { kind, token: undefined, grants: null };
  }
}

/** What the model says `GET /jobs/:id` answers. */
function expectedStatus(cred: Credential, jobId: string): number {
  if (cred.grants === null) return 401;
  if (ownerOf.get(jobId) !== cred.grants) return 404;
  if (cred.scope !== undefined && !cred.scope.includes(jobId)) return 404;
  return 200;
}

describe('isolation', () => {
  it(`holds for ${REST_CASES} random REST requests`, { timeout: 120_000 }, async () => {
    const kinds: Credential['kind'][] = [
      'own',
      'own',
      'own',
      'scoped',
      'scoped',
      'expired',
      'tampered',
      'wrong-secret',
      'foreign-app',
      'garbage',
      'missing',
    ];
    const allJobs = [...ownerOf.keys(), 'no-such-job', `${USERS[0]}-job-9-x`];
    const tally = { checked: 0, ok: 0, unauthorized: 0, forbidden: 0, notFound: 0 };
    const cases = await Promise.all(
      Array.from({ length: REST_CASES }, async () => {
        const user = pick(USERS);
        const cred = await credential(pick(kinds), user);
        const route = pick(['job', 'job', 'list', 'list-other'] as const);
        return { user, cred, route, jobId: pick(allJobs) };
      }),
    );
    const check = async ({ cred, route, jobId }: (typeof cases)[number]): Promise<void> => {
      if (route === 'job') {
        const { status, body } = await getJson(`${bridge.baseUrl}/jobs/${jobId}`, cred.token);
        expect(status, `${cred.kind} → ${jobId}`).toBe(expectedStatus(cred, jobId));
        if (status === 200) {
          expect(body['id']).toBe(jobId);
          expect(body['userId']).toBe(cred.grants);
          tally.ok += 1;
        } else if (status === 401) tally.unauthorized += 1;
        else tally.notFound += 1;
      } else {
        const asked = route === 'list' ? (cred.grants ?? pick(USERS)) : pick(USERS);
        const { status, body } = await getJson(`${bridge.baseUrl}/jobs?userId=${asked}&limit=100`, cred.token);
        const expected = cred.grants === null ? 401 : asked === cred.grants ? 200 : 403;
        expect(status, `${cred.kind} lists ${asked}`).toBe(expected);
        if (status === 200) {
          const ids = (body['jobs'] as { id: string; userId: string }[]).map((job) => {
            expect(job.userId).toBe(cred.grants);
            return job.id;
          });
          const visible = (jobsOf.get(cred.grants as string) as string[]).filter(
            (id) => cred.scope === undefined || cred.scope.includes(id),
          );
          expect(new Set(ids)).toEqual(new Set(visible));
          tally.ok += 1;
        } else if (status === 401) tally.unauthorized += 1;
        else tally.forbidden += 1;
      }
      tally.checked += 1;
    };
    for (let i = 0; i < cases.length; i += 25) await Promise.all(cases.slice(i, i + 25).map(check));
    expect(tally.checked).toBe(REST_CASES);
    expect(tally.ok + tally.unauthorized + tally.forbidden + tally.notFound).toBe(REST_CASES);
    // Every outcome was exercised.
    for (const count of Object.values(tally)) expect(count).toBeGreaterThan(0);
  });

  it('holds for streams: each client gets exactly its user’s (and scope’s) events, nothing else', async () => {
    type Stream = { user: string; scope?: readonly string[]; filter?: string; client: RawSseClient };
    const streams: Stream[] = [];
    let refused = 0;
    for (const user of USERS) {
      const own = await credential('own', user);
      streams.push({ user, client: new RawSseClient(bridge.port, `/v1/sse?token=${own.token}`) });
      const scoped = await credential('scoped', user);
      streams.push({
        user,
        scope: scoped.scope as string[],
        client: new RawSseClient(bridge.port, `/v1/sse?token=${scoped.token}`),
      });
      const filter = pick(jobsOf.get(user) as string[]);
      streams.push({
        user,
        filter,
        client: new RawSseClient(bridge.port, `/v1/sse?token=${own.token}&jobId=${filter}`),
      });
      // Refused streams: bad credentials, someone else's job as the filter, someone else's userId.
      for (const kind of ['expired', 'tampered', 'wrong-secret', 'foreign-app', 'garbage'] as const) {
        const bad = await credential(kind, user);
        const answer = await getJson(
          `${bridge.baseUrl}/sse?userId=${user}${bad.token === undefined ? '' : `&token=${bad.token}`}`,
        );
        expect(answer.status, kind).toBe(401);
        refused += 1;
      }
      const otherJob = pick([...ownerOf.keys()].filter((id) => ownerOf.get(id) !== user));
      expect((await getJson(`${bridge.baseUrl}/sse?jobId=${otherJob}&token=${own.token}`)).status).toBe(404);
      expect(
        (await getJson(`${bridge.baseUrl}/sse?userId=${pick(USERS.filter((u) => u !== user))}&token=${own.token}`))
          .status,
      ).toBe(403);
      refused += 2;
    }
    await waitFor(() => streams.every((stream) => stream.client.ofType('connected').length === 1), {
      what: 'every stream connected',
    });

    // A burst of changes over every job of every user, in random order.
    const events: { id: string; jobId: string; user: string }[] = [];
    const work = [...ownerOf.keys()].flatMap((jobId) => [jobId, jobId, jobId]).sort(() => random() - 0.5);
    for (const [n, jobId] of work.entries())
      events.push({ id: await writer.progress(jobId, n % 100), jobId, user: ownerOf.get(jobId) as string });

    let checked = 0;
    for (const stream of streams) {
      const expected = events.filter(
        (event) =>
          event.user === stream.user &&
          (stream.scope === undefined || stream.scope.includes(event.jobId)) &&
          (stream.filter === undefined || stream.filter === event.jobId),
      );
      const received = () => stream.client.blocks.filter((block) => block.event === 'job.progress');
      await waitFor(() => received().length >= expected.length, { what: `events of ${stream.user}` });
      const got = received().map((block) => {
        const job = JSON.parse(block.data ?? '{}') as { id: string; userId: string };
        expect(job.userId).toBe(stream.user);
        return { id: block.id, jobId: job.id };
      });
      expect(got).toEqual(expected.map(({ id, jobId }) => ({ id, jobId })));
      for (const block of stream.client.ofType('job.sync')) {
        const job = JSON.parse(block.data ?? '{}') as { id: string; userId: string };
        expect(job.userId).toBe(stream.user);
        if (stream.scope !== undefined) expect(stream.scope).toContain(job.id);
        if (stream.filter !== undefined) expect(job.id).toBe(stream.filter);
      }
      checked += got.length;
      stream.client.close();
    }
    const expectedDeliveries = USERS.length * JOBS_PER_USER * 3 + USERS.length * 3 + USERS.length * 3;
    expect(checked).toBe(expectedDeliveries);
    expect(refused).toBe(USERS.length * 7);
  });
});
