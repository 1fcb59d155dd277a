/**
 * The bridge's synchronous token check (`src/auth/hs256.ts`) against `jose`'s `jwtVerify` (through
 * `verifyToken`), on generated tokens: signed ones with every header and claim variation that
 * matters (alg, crit/b64, iss, aud as string or array, exp/nbf/iat present, absent, of the wrong
 * type, past or future, jobs, non-object or non-UTF-8 payloads, the wrong key, `maxTokenAgeSeconds`)
 * must get the same answer from both — the same principal, or a refusal for the same reason — and
 * arbitrary edits of valid tokens are never accepted by the sync check when jose refuses them.
 */
import fc from 'fast-check';
import { CompactSign, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTokenVerifier } from '../../src/auth/hs256.js';
import { verifyToken, type Principal } from '../../src/auth/tokens.js';
import { SeennError } from '../../src/errors.js';

const SECRET = new TextEncoder().encode('s'.repeat(40));
const OTHER = new TextEncoder().encode('o'.repeat(40));
const APP = 'app1';
const RUNS = Number(process.env['SEENN_FUZZ_RUNS'] ?? 1_500);

type Outcome = { ok: true; principal: Principal } | { ok: false; reason: unknown };

async function outcome(run: () => Principal | Promise<Principal>): Promise<Outcome> {
  try {
    return { ok: true, principal: await run() };
  } catch (error) {
    if (!(error instanceof SeennError) || error.code !== 'UNAUTHORIZED') throw error;
    return { ok: false, reason: error.details['reason'] };
  }
}

const now = (): number => Math.floor(Date.now() / 1000);
/** Mostly the valid value, else one of the variations (so that tokens near the boundary of every rule are common). */
function mostly<T>(valid: fc.Arbitrary<T>, ...others: T[]): fc.Arbitrary<T> {
  return fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: fc.constantFrom(...others) });
}
/** A time claim: seconds relative to now (materialised when signed), or something else. */
type TimeClaim = { offset: number } | string | null | undefined;
function timeClaim(valid: fc.Arbitrary<number>): fc.Arbitrary<TimeClaim> {
  return mostly<TimeClaim>(valid.map((offset) => ({ offset })), undefined, 'soon', null, { offset: 0 }, { offset: -1 }, { offset: 1 }, { offset: 0.5 }, { offset: 59 }, { offset: 61 }, { offset: -3_600 }, { offset: -59 });
}
const claimsArb = fc.record({
  sub: mostly<unknown>(fc.constant('alice'), undefined, '', 7, 'a'.repeat(300)),
  iss: mostly<unknown>(fc.constant('seenn-bullmq'), undefined, 'someone-else', 3),
  aud: mostly<unknown>(fc.constant(`seenn:${APP}`), undefined, 'seenn:other', [`seenn:${APP}`], ['x', `seenn:${APP}`], ['x'], [], 5),
  exp: timeClaim(fc.integer({ min: 1, max: 4_000 })),
  nbf: fc.oneof({ weight: 3, arbitrary: fc.constant<TimeClaim>(undefined) }, { weight: 1, arbitrary: timeClaim(fc.integer({ min: -4_000, max: 0 })) }),
  iat: timeClaim(fc.integer({ min: -4_000, max: 0 })),
  jobs: mostly<unknown>(fc.constant(undefined), ['job-1'], [], 'job-1', ['bad id with spaces']),
});
const headerArb = fc.record({
  alg: mostly(fc.constant('HS256'), 'HS384', 'HS512'),
  typ: fc.constantFrom(undefined, 'JWT', 'other'),
  crit: mostly<unknown>(fc.constant(undefined), ['b64'], ['exp'], [], 'b64', ['b64', 'b64']),
  b64: fc.constantFrom(undefined, true, false, 'yes'),
});

function materialize(claims: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(claims)) {
    if (value === undefined) continue;
    out[name] = typeof value === 'object' && value !== null && 'offset' in value ? now() + (value as { offset: number }).offset : value;
  }
  return out;
}

async function sign(header: Record<string, unknown>, payload: Uint8Array, key: Uint8Array): Promise<string | null> {
  const clean = Object.fromEntries(Object.entries(header).filter(([, value]) => value !== undefined));
  try {
    return await new CompactSign(payload).setProtectedHeader(clean as { alg: string }).sign(key);
  } catch {
    return null; // a header jose will not sign with (e.g. b64 false with a '.' in the payload)
  }
}

describe('the synchronous token check', () => {
  // One fixed clock for signing and both checks: a second ticking between them would split answers.
  beforeAll(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-30T10:00:00.250Z'));
  });
  afterAll(() => {
    vi.useRealTimers();
  });

  it('answers every signed token as jose does (same principal or same refusal)', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(
        headerArb,
        claimsArb,
        mostly(fc.constant('json'), 'array', 'not-utf8', 'not-json'),
        mostly(fc.constant(true), false),
        fc.constantFrom(undefined, 60, 3_600),
        async (header, claims, shape, rightKey, maxAge) => {
          const body = shape === 'json' ? JSON.stringify(materialize(claims)) : shape === 'array' ? '[1]' : shape === 'not-json' ? '{"sub":' : null;
          const payload = body === null ? new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) : new TextEncoder().encode(body);
          const token = await sign(header, payload, rightKey ? SECRET : OTHER);
          if (token === null) return;
          const reference = await outcome(() => verifyToken(token, SECRET, APP, maxAge));
          const sync = await outcome(() => createTokenVerifier(SECRET, APP, maxAge)(token));
          expect(sync).toEqual(reference);
          if (reference.ok) accepted += 1;
        },
      ),
      { numRuns: RUNS },
    );
    // The generator reaches both sides of the rules: a good share of the tokens is accepted.
    expect(accepted).toBeGreaterThan(RUNS / 20);
  });

  it('accepts valid tokens, with and without scopes and age limits', async () => {
    const verify = createTokenVerifier(SECRET, APP, 3_600);
    const token = await new SignJWT({ jobs: ['job-1'] }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject('alice').setIssuer('seenn-bullmq').setAudience(`seenn:${APP}`).setIssuedAt().setExpirationTime('10m').sign(SECRET);
    expect(verify(token)).toEqual(await verifyToken(token, SECRET, APP, 3_600));
    expect(verify(token).jobIds).toEqual(['job-1']);
  });

  it('never accepts an edited token that jose refuses', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject('alice').setIssuer('seenn-bullmq').setAudience(`seenn:${APP}`).setIssuedAt().setExpirationTime('10m').sign(SECRET);
    const verify = createTokenVerifier(SECRET, APP);
    const edit = fc.record({
      at: fc.nat({ max: token.length }),
      remove: fc.nat({ max: 3 }),
      insert: fc.string({ maxLength: 3, unit: fc.constantFrom('A', 'Q', '-', '_', '.', '=', ' ', '+', '/', 'é', '\n') }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 3 }), async (edits) => {
        let mutated = token;
        for (const { at, remove, insert } of edits) mutated = mutated.slice(0, at) + insert + mutated.slice(at + remove);
        const sync = await outcome(() => verify(mutated));
        if (!sync.ok) return;
        expect(await outcome(() => verifyToken(mutated, SECRET, APP))).toEqual(sync);
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses alg none, the wrong key and expired tokens with the reasons the bridge answers', async () => {
    const verify = createTokenVerifier(SECRET, APP);
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'bob', exp: now() + 600, iss: 'seenn-bullmq', aud: `seenn:${APP}` })).toString('base64url')}.`;
    expect(await outcome(() => verify(none))).toEqual({ ok: false, reason: 'invalid' });
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setIssuer('seenn-bullmq').setAudience(`seenn:${APP}`).setExpirationTime(now() + 600).sign(OTHER);
    expect(await outcome(() => verify(forged))).toEqual({ ok: false, reason: 'invalid' });
    const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setIssuer('seenn-bullmq').setAudience(`seenn:${APP}`).setExpirationTime(now() - 1).sign(SECRET);
    expect(await outcome(() => verify(expired))).toEqual({ ok: false, reason: 'expired' });
    expect(await outcome(() => verify(''))).toEqual({ ok: false, reason: 'invalid' });
    expect(await outcome(() => verify('x'.repeat(9_000)))).toEqual({ ok: false, reason: 'invalid' });
  });
});
