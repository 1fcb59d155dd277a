/**
 * The token check on its own (`src/auth/tokens.ts`, no Redis): every token a lax verifier would let
 * through is refused with `UNAUTHORIZED` and the right `details.reason`. Forged tokens are made with
 * `jose` (a second implementation, so the check is not graded by the library that does it) or
 * assembled by hand where no library would sign them (`alg: none`, a public-key header on an HMAC).
 */
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { createTokenVerifier, TOKEN_LIMITS, TokenService } from '../../src/auth/tokens.js';
import { SeennError } from '../../src/errors.js';

const SECRET = new TextEncoder().encode('auth-test-secret-auth-test-secret-0123456789');
const OTHER_SECRET = new TextEncoder().encode('another-secret-another-secret-another-secret');
const MAX_AGE = 3_600;
const verify = createTokenVerifier(SECRET, 'default', MAX_AGE);
const now = (): number => Math.floor(Date.now() / 1000);

function good(overrides: JWTPayload = {}): JWTPayload {
  return { sub: 'alice', iss: 'seenn-bullmq', aud: 'seenn:default', iat: now(), exp: now() + 600, ...overrides };
}

function without(claim: string): JWTPayload {
  const claims = good();
  delete claims[claim];
  return claims;
}

function signJose(claims: JWTPayload, alg = 'HS256', key: Uint8Array | CryptoKey = SECRET): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(key);
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A token with any header, HMAC-SHA-256-signed with `secret` (or with `signature` as given). */
function handMade(header: object, claims: JWTPayload, signature?: string): string {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${signature ?? createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

function refusal(token: string): { reason: unknown; message: string } {
  try {
    verify(token);
  } catch (error) {
    expect(error).toBeInstanceOf(SeennError);
    const seenn = error as SeennError;
    expect(seenn.code).toBe('UNAUTHORIZED');
    if (token !== '') {
      expect(seenn.message).not.toContain(token);
      expect(JSON.stringify(seenn.details)).not.toContain(token);
    }
    return { reason: seenn.details?.['reason'], message: seenn.message };
  }
  throw new Error('the token was accepted');
}

describe('createTokenVerifier', () => {
  it("accepts this package's tokens and the same claims signed by another HS256 implementation", async () => {
    const issued = await new TokenService(SECRET, 'default').issue({
      userId: 'alice',
      jobIds: ['j-1'],
      ttlSeconds: 60,
    });
    expect(verify(issued)).toMatchObject({ userId: 'alice', jobIds: ['j-1'] });
    const principal = verify(await signJose(good({ exp: now() + 600 })));
    expect(principal.userId).toBe('alice');
    expect(principal.jobIds).toBeUndefined();
    // `aud` may be a list that names the app (RFC 7519 §4.1.3).
    expect(verify(await signJose(good({ aud: ['other', 'seenn:default'] }))).userId).toBe('alice');
  });

  it('gives the earlier of exp and iat + maxTokenAgeSeconds as the expiry', async () => {
    const iat = now() - 100;
    expect(verify(await signJose(good({ iat, exp: iat + 10 * MAX_AGE }))).expiresAtMs).toBe((iat + MAX_AGE) * 1000);
    expect(verify(await signJose(good({ iat, exp: iat + 200 }))).expiresAtMs).toBe((iat + 200) * 1000);
  });

  it('refuses every algorithm but HS256, unsigned tokens and key-confusion headers', async () => {
    const claims = good();
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const valid = await signJose(claims);
    const [, payload, signature] = valid.split('.') as [string, string, string];
    const forged: Record<string, string> = {
      'alg none, no signature': `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`,
      'alg none, the real signature kept': `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.${signature}`,
      'alg NONE': `${b64({ alg: 'NONE' })}.${payload}.`,
      'HS256 header, no signature': `${b64({ alg: 'HS256' })}.${payload}.`,
      'HS384, same secret': await signJose(claims, 'HS384'),
      'HS512, same secret': await signJose(claims, 'HS512'),
      'RS256, an RSA key': await signJose(claims, 'RS256', await importRsa(privateKey)),
      'RS256 header, HMAC with the secret': handMade({ alg: 'RS256', typ: 'JWT' }, claims),
      'ES256 header, HMAC with the secret': handMade({ alg: 'ES256', typ: 'JWT' }, claims),
      'no alg': handMade({ typ: 'JWT' }, claims),
      'an unknown critical header': handMade({ alg: 'HS256', crit: ['exp-ext'], 'exp-ext': 1 }, claims),
    };
    for (const [name, token] of Object.entries(forged)) expect(refusal(token).reason, name).toBe('invalid');
  });

  it('refuses forged, tampered and malformed tokens as invalid', async () => {
    const valid = await signJose(good());
    const [header, payload, signature] = valid.split('.') as [string, string, string];
    const forged: Record<string, string> = {
      'another secret': await signJose(good(), 'HS256', OTHER_SECRET),
      'sub changed': `${header}.${b64(good({ sub: 'bob' }))}.${signature}`,
      'header changed': `${b64({ alg: 'HS256', typ: 'JWT', kid: 'x' })}.${payload}.${signature}`,
      'signature cut short': `${header}.${payload}.${signature.slice(0, -2)}`,
      'signature padded': `${header}.${payload}.${signature}=`,
      'two parts': `${header}.${payload}`,
      garbage: 'not-a-token',
      'not JSON': `${Buffer.from('{').toString('base64url')}.${payload}.${signature}`,
      'too long': `${header}.${payload}.${'A'.repeat(TOKEN_LIMITS.maxTokenChars)}`,
      empty: '',
    };
    for (const [name, token] of Object.entries(forged)) expect(refusal(token).reason, name).toBe('invalid');
  });

  it('refuses wrong or missing registered claims as invalid', async () => {
    const cases: Record<string, JWTPayload> = {
      'wrong aud': good({ aud: 'seenn:other-app' }),
      'wrong iss': good({ iss: 'someone-else' }),
      'no aud': without('aud'),
      'no iss': without('iss'),
      'no sub': without('sub'),
      'no exp': without('exp'),
      'no iat (maxTokenAgeSeconds set)': without('iat'),
      'empty sub': good({ sub: '' }),
      'exp as a string': good({ exp: `${now() + 600}` as unknown as number }),
      'iat in the future beyond the skew': good({ iat: now() + 600, exp: now() + 1200 }),
      'not yet valid (nbf)': good({ nbf: now() + 600 }),
      'jobs not a list of job ids': good({ jobs: 'j-1' as unknown as number }),
    };
    for (const [name, claims] of Object.entries(cases))
      expect(refusal(handMade({ alg: 'HS256' }, claims)).reason, name).toBe('invalid');
  });

  it('tells expired tokens apart: past exp, or older than maxTokenAgeSeconds', async () => {
    const pastExp = refusal(await signJose(good({ iat: now() - 120, exp: now() - 60 })));
    expect(pastExp).toEqual({ reason: 'expired', message: 'the token has expired' });
    const tooOld = refusal(await signJose(good({ iat: now() - MAX_AGE - 5, exp: now() + 600 })));
    expect(tooOld.reason).toBe('expired');
  });

  it('without maxTokenAgeSeconds, iat is optional', async () => {
    const lax = createTokenVerifier(SECRET, 'default');
    expect(lax(await signJose(without('iat'))).userId).toBe('alice');
  });
});

describe('TokenService', () => {
  it('issues HS256 tokens with iss, aud, sub, iat and exp that its own verify accepts', async () => {
    const service = new TokenService(SECRET, 'default');
    const token = await service.issue({ userId: 'alice', ttlSeconds: 120 });
    const [header, payload] = token
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString())) as [
      Record<string, unknown>,
      Record<string, unknown>,
    ];
    expect(header).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(payload).toMatchObject({ sub: 'alice', iss: 'seenn-bullmq', aud: 'seenn:default' });
    expect((payload['exp'] as number) - (payload['iat'] as number)).toBe(120);
    expect((await service.verify(token)).userId).toBe('alice');
    await expect(new TokenService(SECRET, 'other').verify(token)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('needs a secret to issue or verify (CONFIG_INVALID)', async () => {
    const none = new TokenService(null, 'default');
    await expect(none.issue({ userId: 'alice' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(none.verify('a.b.c')).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});

async function importRsa(privateKey: KeyObject): Promise<CryptoKey> {
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  return crypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
}
