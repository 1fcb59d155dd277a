/**
 * The bridge's token check, synchronous: the same rules as {@link verifyToken} (which runs `jose`'s
 * `jwtVerify`), with the HMAC-SHA-256 computed by `node:crypto` on a `KeyObject` made once. `jose`
 * verifies through WebCrypto, a job on libuv's thread pool and a few promises per token — about a
 * seventh of a connect's bridge time at 10,000 connects (bench/README, issue 15); this costs a few µs
 * and never leaves the event loop.
 *
 * It accepts a subset of what `jwtVerify` accepts, never more (`test/security/token-verifier.test.ts`
 * checks both on generated and mutated tokens): the signature must be the canonical unpadded
 * base64url of the HMAC (jose also takes padding, whitespace and non-zero trailing bits), and header
 * and payload plain base64url. Tokens are still issued by `jose` (`TokenService.issue`).
 */
import { createHmac, createSecretKey, KeyObject, timingSafeEqual } from 'node:crypto';
import { SeennError } from '../errors.js';
import { principalOf, TOKEN_LIMITS, verifyRules, type Principal } from './tokens.js';

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function invalid(): SeennError {
  return new SeennError('UNAUTHORIZED', 'the token is invalid', { details: { reason: 'invalid' } });
}

/** A JSON object in the sense of `jose` (a plain object, not an array or `null`). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Object.prototype.toString.call(value) !== '[object Object]') return false;
  const prototype = Object.getPrototypeOf(value) as object | null;
  return prototype === null || Object.getPrototypeOf(prototype) === null;
}

/** A base64url segment decoded as strict UTF-8 JSON that must be an object; `null` otherwise. */
function decodeObject(segment: string): Record<string, unknown> | null {
  if (!BASE64URL.test(segment) || segment.length % 4 === 1) return null;
  try {
    const parsed: unknown = JSON.parse(utf8.decode(Buffer.from(segment, 'base64url')));
    return isPlainObject(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

/** `jose`'s `crit` / `b64` rules for a JWT: only `b64` may be critical, and then it must be `true`. */
function critAllowed(header: Record<string, unknown>): boolean {
  const { crit } = header;
  if (crit === undefined) return true;
  if (!Array.isArray(crit) || crit.length === 0) return false;
  for (const name of crit as unknown[]) if (name !== 'b64') return false;
  return header['b64'] === true;
}

/** A synchronous verifier of one app's tokens: `(token) → Principal`, or a thrown `UNAUTHORIZED`. */
export type TokenVerifier = (token: string) => Principal;

/**
 * Builds the verifier of tokens signed with `secret` for `appId` (see {@link verifyToken} for the
 * rules, including `maxTokenAgeSeconds`). The key is imported once here.
 */
export function createTokenVerifier(secret: Uint8Array | KeyObject, appId: string, maxTokenAgeSeconds?: number): TokenVerifier {
  const key = secret instanceof KeyObject ? secret : createSecretKey(secret);
  const { issuer, audience, requiredClaims } = verifyRules(appId, maxTokenAgeSeconds);
  return (token) => {
    if (typeof token !== 'string' || token.length === 0 || token.length > TOKEN_LIMITS.maxTokenChars) throw new SeennError('UNAUTHORIZED', 'the token is malformed', { details: { reason: 'invalid' } });
    const firstDot = token.indexOf('.');
    const secondDot = firstDot < 0 ? -1 : token.indexOf('.', firstDot + 1);
    if (secondDot < 0 || token.indexOf('.', secondDot + 1) >= 0) throw invalid();
    const header = decodeObject(token.slice(0, firstDot));
    if (header === null || header['alg'] !== 'HS256' || !critAllowed(header)) throw invalid();
    // The signature: compared as text with the canonical encoding of the HMAC, in constant time.
    const given = Buffer.from(token.slice(secondDot + 1), 'latin1');
    const expected = Buffer.from(createHmac('sha256', key).update(token.slice(0, secondDot), 'latin1').digest('base64url'), 'latin1');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
    // Only ASCII may be signed (jose refuses the rest before it verifies).
    if (!BASE64URL.test(token.slice(firstDot + 1, secondDot))) throw invalid();
    const payload = decodeObject(token.slice(firstDot + 1, secondDot));
    if (payload === null) throw invalid();
    // The standard claims, as jose checks them (clock tolerance 0).
    for (const claim of [...requiredClaims, 'aud', 'iss']) if (!Object.hasOwn(payload, claim)) throw invalid();
    if (payload['iss'] !== issuer) throw invalid();
    const { aud } = payload;
    if (!(typeof aud === 'string' ? aud === audience : Array.isArray(aud) && (aud as unknown[]).includes(audience))) throw invalid();
    const nowSeconds = Math.floor(Date.now() / 1000);
    const { iat, nbf, exp } = payload;
    if (iat !== undefined && typeof iat !== 'number') throw invalid();
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf > nowSeconds)) throw invalid();
    if (exp !== undefined && typeof exp !== 'number') throw invalid();
    if (typeof exp === 'number' && exp <= nowSeconds) throw new SeennError('UNAUTHORIZED', 'the token has expired', { details: { reason: 'expired' } });
    return principalOf(payload, maxTokenAgeSeconds);
  };
}
