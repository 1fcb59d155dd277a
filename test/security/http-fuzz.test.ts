/**
 * HTTP fuzzing (issue 13): arbitrary methods, request targets (paths, percent-encoding, absolute
 * form, queries), headers, bodies and credentials against every bridge and admin route of an app
 * built as the README shows. For every answer: never a 5xx and never an error that reaches the app;
 * an error on a route the bridge or admin owns is always the JSON envelope; and no answer carries
 * the data of a user whose valid credentials the request did not carry. fast-check prints the seed
 * and the shrunk request of any failure (replay with `SEENN_FUZZ_SEED`).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET } from '../bridge/helpers.js';
import { forgeToken } from '../helpers/forged-token.js';
import { ADMIN_TOKEN, markerOf, rawRequest, startTargetApp, type RawAnswer, type TargetApp } from './app.js';

const USERS = ['alice', 'bob', 'mallory'] as const;
const RUNS = Number(process.env['SEENN_FUZZ_RUNS'] ?? 1_200);
/** Drawn here unless given, so that every message of the test (not only fast-check's) can name it. */
const SEED =
  process.env['SEENN_FUZZ_SEED'] === undefined
    ? Math.floor(Math.random() * 2 ** 31)
    : Number(process.env['SEENN_FUZZ_SEED']);

let target: TargetApp;
/** Credentials by label, and the user each one grants (null: none). */
const tokens = new Map<string, { token: string; grants: string | null }>();

beforeAll(async () => {
  target = await startTargetApp(USERS, 3);
  const sign = (secret: string, sub: string, iat: number, exp: number): Promise<string> =>
    forgeToken({ secret, sub, iat, exp });
  const now = Math.floor(Date.now() / 1000);
  for (const user of USERS) {
    tokens.set(`own:${user}`, {
      token: await target.seenn.tokens.issue({ userId: user, ttlSeconds: 600 }),
      grants: user,
    });
    tokens.set(`scoped:${user}`, {
      token: await target.seenn.tokens.issue({ userId: user, jobIds: [`${user}-job-0`], ttlSeconds: 600 }),
      grants: user,
    });
  }
  // A token of mallory's that names bob's job: it grants mallory, never bob's job.
  tokens.set('scoped-foreign', {
    token: await target.seenn.tokens.issue({
      userId: 'mallory',
      jobIds: ['bob-job-0', 'alice-job-1'],
      ttlSeconds: 600,
    }),
    grants: 'mallory',
  });
  tokens.set('expired', { token: await sign(SECRET, 'bob', now - 600, now - 1), grants: null });
  tokens.set('wrong-secret', { token: await sign('x'.repeat(48), 'bob', now, now + 600), grants: null });
  const [header, payload, signature] = (await target.seenn.tokens.issue({ userId: 'mallory', ttlSeconds: 600 })).split(
    '.',
  ) as [string, string, string];
  const forged = Buffer.from(
    JSON.stringify({ ...(JSON.parse(Buffer.from(payload, 'base64url').toString()) as object), sub: 'bob' }),
  ).toString('base64url');
  tokens.set('tampered', { token: `${header}.${forged}.${signature}`, grants: null });
  tokens.set('none-alg', {
    token: `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'bob', exp: now + 600 })).toString('base64url')}.`,
    grants: null,
  });
  tokens.set('admin', { token: ADMIN_TOKEN, grants: null });
});

afterAll(async () => {
  await target.close();
});

const visible = fc.string({
  unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)),
  maxLength: 24,
});
const jobIds = USERS.flatMap((user) => [0, 1, 2].map((n) => `${user}-job-${n}`));
const tokenLabel = fc.constantFrom(
  ...[
    'own:alice',
    'own:bob',
    'own:mallory',
    'own:mallory',
    'own:mallory',
    'admin',
    'scoped:alice',
    'scoped:bob',
    'scoped-foreign',
    'expired',
    'wrong-secret',
    'tampered',
    'none-alg',
    'admin',
  ],
);

/** A path segment: route words, job ids (anyone's), dot segments, bad or odd percent-encoding, junk. */
const segment = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'sse',
      'jobs',
      'children',
      'output',
      'api',
      'queues',
      'users',
      'sec-q',
      ...USERS,
      ...jobIds,
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      '.',
      '..',
      '%ZZ',
      '%',
      '%2F',
      '%2e%2e',
      '%00',
      '%C0%AF',
      '%E2%80%AE',
      ';',
      'jobs;x',
      '*',
      '~',
      'x'.repeat(600),
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map((text) => encodeURIComponent(text)) },
  { weight: 1, arbitrary: visible.map((text) => text.replace(/[?#]/g, '')) },
);

const queryValue = fc.oneof(
  fc.constantFrom(
    ...USERS,
    ...jobIds,
    '0',
    '-1',
    '101',
    '1e309',
    'NaN',
    '',
    '0-0',
    '99999999999999-0',
    '$',
    '+',
    '%ZZ',
  ),
  tokenLabel.map((label) => encodeURIComponent(tokens.get(label)?.token ?? '')),
  fc.string({ maxLength: 16 }).map((text) => encodeURIComponent(text)),
);
const queryPair = fc.tuple(
  fc.constantFrom(
    'userId',
    'jobId',
    'token',
    'access_token',
    'lastEventId',
    'limit',
    'cursor',
    'state',
    'output',
    'outputAfter',
    'stream',
    'after',
    'x',
    'userId[]',
    '__proto__',
    'constructor',
  ),
  queryValue,
);

/** A target the routers own, with its parameters drawn from anyone's ids or junk. */
const idLike = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...jobIds) }, { weight: 1, arbitrary: segment });
const routeShaped = fc.oneof(
  fc.constant(['sse']),
  fc.constant(['jobs']),
  idLike.map((id) => ['jobs', id]),
  idLike.map((id) => ['jobs', id, 'children']),
  idLike.map((id) => ['jobs', id, 'output']),
);
const adminShaped = fc.oneof(
  fc.constant(['api', 'queues']),
  fc.constantFrom('sec-q', 'other', '%ZZ').map((name) => ['api', 'queues', name]),
  idLike.map((id) => ['api', 'jobs', id]),
  fc.oneof(fc.constantFrom(...USERS), segment).map((user) => ['api', 'users', user, 'jobs']),
  fc.constant(['queues']),
  fc.constant(['metrics']),
);

const BRIDGE_BASES = ['/v1', '/v1', '/v1', 'http://a:99999/v1', '//v1', '/V1'];
const ADMIN_BASES = ['/admin', '/admin', 'http://x/admin', 'http://a:99999/admin', '/v1/../admin'];
const targetShape = fc.oneof(
  { weight: 3, arbitrary: fc.record({ base: fc.constantFrom(...BRIDGE_BASES), segments: routeShaped }) },
  { weight: 2, arbitrary: fc.record({ base: fc.constantFrom(...ADMIN_BASES), segments: adminShaped }) },
  {
    weight: 2,
    arbitrary: fc.record({
      base: fc.constantFrom(...BRIDGE_BASES, ...ADMIN_BASES),
      segments: fc.array(segment, { maxLength: 4 }),
    }),
  },
);

const request = fc
  .tuple(
    targetShape,
    fc.record({
      method: fc.constantFrom('GET', 'GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
      trailingSlash: fc.boolean(),
      query: fc.array(queryPair, { maxLength: 4 }),
      auth: fc.option(
        fc.oneof(
          { weight: 4, arbitrary: tokenLabel.map((label) => ({ label, scheme: 'Bearer' })) },
          {
            weight: 1,
            arbitrary: fc.record({
              label: tokenLabel,
              scheme: fc.constantFrom('bearer', 'Basic', 'Token', 'Bearer  '),
            }),
          },
        ),
        { nil: undefined, freq: 5 },
      ),
      rawAuth: fc.option(visible, { nil: undefined }),
      extraHeaders: fc.dictionary(
        fc.constantFrom(
          'last-event-id',
          'accept',
          'origin',
          'sec-fetch-site',
          'content-type',
          'x-forwarded-for',
          'cookie',
          'range',
          'if-none-match',
          'x-http-method-override',
          'host',
        ),
        visible,
        { maxKeys: 3 },
      ),
      body: fc.option(
        fc.oneof(
          fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes)),
          fc.json().map((text) => Buffer.from(text)),
        ),
        { nil: undefined, freq: 4 },
      ),
    }),
  )
  .map(([shape, rest]) => ({ ...shape, ...rest }));

type FuzzRequest = typeof request extends fc.Arbitrary<infer T> ? T : never;

/** The request as sent, and the users whose data it may see (everyone's with the admin token). */
function build(input: FuzzRequest): {
  method: string;
  target: string;
  headers: Record<string, string>;
  body?: Buffer;
  allowed: Set<string> | 'all';
} {
  const path = `${input.base}${input.segments.length > 0 ? `/${input.segments.join('/')}` : ''}${input.trailingSlash ? '/' : ''}`;
  const query = input.query.map(([key, value]) => `${key}=${value}`).join('&');
  const headers: Record<string, string> = { ...input.extraHeaders };
  const allowed = new Set<string>();
  let admin = false;
  const grant = (label: string): void => {
    const credential = tokens.get(label);
    if (credential?.grants) allowed.add(credential.grants);
    if (label === 'admin') admin = true;
  };
  if (input.auth !== undefined) {
    headers['authorization'] = `${input.auth.scheme} ${tokens.get(input.auth.label)?.token ?? ''}`;
    grant(input.auth.label);
  } else if (input.rawAuth !== undefined) headers['authorization'] = input.rawAuth;
  // A token in the query grants as well (the bridge accepts `?token=` for EventSource).
  for (const [key, value] of input.query) {
    if (key !== 'token' && key !== 'access_token') continue;
    for (const [label, credential] of tokens) if (encodeURIComponent(credential.token) === value) grant(label);
  }
  if (input.body !== undefined) headers['content-length'] = String(input.body.length);
  return {
    method: input.method,
    target: query === '' ? path : `${path}?${query}`,
    headers,
    ...(input.body === undefined ? {} : { body: input.body }),
    allowed: admin ? 'all' : allowed,
  };
}

/** Whether `answer` is the error envelope `{ error: { code, message, details } }` sent as JSON. */
function isEnvelope(answer: RawAnswer): boolean {
  if (!String(answer.headers['content-type'] ?? '').startsWith('application/json')) return false;
  try {
    const { error } = JSON.parse(answer.body) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    return (
      typeof error?.code === 'string' &&
      /^[A-Z][A-Z0-9_]*$/.test(error.code) &&
      typeof error.message === 'string' &&
      typeof error.details === 'object' &&
      error.details !== null
    );
  } catch {
    return false;
  }
}

/** Whether the app's own fall-through handler answered (a path neither router owns). */
function fellThrough(answer: RawAnswer): boolean {
  return answer.body === '{"fellThrough":true}';
}

const tally = { requests: 0, fellThrough: 0, envelopes: 0, ok: 0, streams: 0, byStatus: new Map<number, number>() };

/** Checks one answer against the properties; throws (with the request) on a violation. */
function check(sent: ReturnType<typeof build>, answer: RawAnswer): void {
  const what = `${sent.method} ${sent.target} ${JSON.stringify(sent.headers)} → ${answer.status} ${answer.body.slice(0, 300)}`;
  tally.requests += 1;
  tally.byStatus.set(answer.status, (tally.byStatus.get(answer.status) ?? 0) + 1);
  expect(answer.status, what).toBeGreaterThanOrEqual(200);
  expect(answer.status, what).toBeLessThan(500);
  expect(target.appErrors, what).toEqual([]);
  if (sent.allowed !== 'all') {
    for (const user of USERS) {
      if (sent.allowed.has(user)) continue;
      expect(answer.body.includes(markerOf(user)), `${user}'s data leaked: ${what}`).toBe(false);
      expect(answer.body.includes(`"userId":"${user}"`), `${user}'s job leaked: ${what}`).toBe(false);
    }
  }
  if (fellThrough(answer)) {
    tally.fellThrough += 1;
    return;
  }
  if (answer.status >= 400 && sent.method !== 'HEAD') {
    expect(isEnvelope(answer), `not the envelope: ${what}`).toBe(true);
    tally.envelopes += 1;
  } else if (answer.cut) tally.streams += 1;
  else tally.ok += 1;
}

describe('HTTP fuzzing of the bridge and admin routes', () => {
  it(`${RUNS} arbitrary requests: no 5xx, always the envelope, never another user's data`, async () => {
    const known: FuzzRequest[] = [
      // The audit's probes (issue 13, finding 5), as fixed examples.
      {
        method: 'GET',
        base: 'http://a:99999/v1',
        segments: ['jobs'],
        trailingSlash: false,
        query: [],
        auth: { label: 'own:alice', scheme: 'Bearer' },
        rawAuth: undefined,
        extraHeaders: {},
        body: undefined,
      },
      {
        method: 'GET',
        base: 'http://a:99999/admin',
        segments: ['api', 'queues'],
        trailingSlash: false,
        query: [],
        auth: undefined,
        rawAuth: undefined,
        extraHeaders: {},
        body: undefined,
      },
      {
        method: 'GET',
        base: '/v1',
        segments: ['jobs', '%ZZ'],
        trailingSlash: false,
        query: [],
        auth: { label: 'own:alice', scheme: 'Bearer' },
        rawAuth: undefined,
        extraHeaders: {},
        body: undefined,
      },
      {
        method: 'GET',
        base: '/admin',
        segments: ['api', 'jobs', '%ZZ'],
        trailingSlash: false,
        query: [],
        auth: { label: 'admin', scheme: 'Bearer' },
        rawAuth: undefined,
        extraHeaders: {},
        body: undefined,
      },
      {
        method: 'GET',
        base: '/admin',
        segments: ['api', 'users', '%ZZ', 'jobs'],
        trailingSlash: false,
        query: [],
        auth: undefined,
        rawAuth: undefined,
        extraHeaders: {},
        body: undefined,
      },
      {
        method: 'GET',
        base: '/v1',
        segments: ['jobs', 'bob-job-0'],
        trailingSlash: false,
        query: [],
        auth: { label: 'scoped-foreign', scheme: 'Bearer' },
        rawAuth: undefined,
        extraHeaders: {},
        body: undefined,
      },
      // Found by this test: better-sse parsed the absolute-form target itself and threw (a 500).
      {
        method: 'GET',
        base: 'http://a:99999/v1',
        segments: ['sse'],
        trailingSlash: false,
        query: [],
        auth: { label: 'own:mallory', scheme: 'Bearer' },
        rawAuth: undefined,
        extraHeaders: {},
        body: undefined,
      },
      {
        method: 'GET',
        base: '/v1',
        segments: ['sse'],
        trailingSlash: false,
        query: [],
        auth: { label: 'own:mallory', scheme: 'Bearer' },
        rawAuth: undefined,
        extraHeaders: { host: '[' },
        body: undefined,
      },
      {
        method: 'GET',
        base: '/v1',
        segments: ['sse'],
        trailingSlash: false,
        query: [['jobId', 'bob-job-0']],
        auth: { label: 'scoped-foreign', scheme: 'Bearer' },
        rawAuth: undefined,
        extraHeaders: { 'last-event-id': '0-0' },
        body: undefined,
      },
    ];
    await fc.assert(
      fc.asyncProperty(request, async (input) => {
        const sent = build(input);
        check(sent, await rawRequest(target.port, sent));
      }),
      { numRuns: RUNS, seed: SEED, examples: known.map((example) => [example]) },
    );
    const summary = `seed ${SEED}: ${JSON.stringify({ ...tally, byStatus: Object.fromEntries(tally.byStatus) })}`;
    console.info(`http fuzz: ${summary}`);
    // The generator reaches every kind of answer (else the properties were checked on nothing). The
    // bounds sit far below the shares the generator gives (envelopes ~78 %, ok ~12 %, streams ~0.7 %
    // of the requests, plus the SSE examples above). `ok > RUNS / 10` sat 2.5-3 standard deviations
    // below the mean (12 runs: 137-170 of 1,200, mean 147), so a few runs in a thousand failed it,
    // after fast-check had passed and so without a seed.
    expect(tally.envelopes, summary).toBeGreaterThan(RUNS / 10);
    expect(tally.ok, summary).toBeGreaterThan(RUNS / 40);
    expect(tally.streams, summary).toBeGreaterThan(0);
    for (const status of [200, 400, 401, 403, 404])
      expect(tally.byStatus.get(status) ?? 0, `status ${status}, ${summary}`).toBeGreaterThan(0);
  }, 120_000);
});
