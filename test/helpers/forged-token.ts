/**
 * End-user tokens made by a second JWT implementation (`jose`), not by `seenn.tokens`: the bridge and
 * security tests forge expired, old, foreign-app, wrong-issuer and wrong-algorithm tokens with it.
 * Without overrides it makes a valid HS256 token of the app `default`.
 */
import { SignJWT } from 'jose';

/** What {@link forgeToken} signs. */
export interface ForgedClaims {
  /** The HMAC key (the bridge's `tokenSecret`, or another to forge). */
  secret: string;
  sub: string;
  /** Expiry, epoch seconds. */
  exp: number;
  /** Issued at, epoch seconds; left out when undefined. */
  iat?: number;
  /** Default `seenn:default` (the app `default`). */
  aud?: string;
  /** Default `seenn-bullmq`. */
  iss?: string;
  /** The header's `alg`; default `HS256`. */
  alg?: string;
}

/** Signs `claims` as a JWT (see {@link ForgedClaims} for the defaults). */
export function forgeToken(claims: ForgedClaims): Promise<string> {
  const { secret, sub, exp, iat, aud = 'seenn:default', iss = 'seenn-bullmq', alg = 'HS256' } = claims;
  const jwt = new SignJWT({}).setProtectedHeader({ alg }).setSubject(sub).setIssuer(iss).setAudience(aud);
  if (iat !== undefined) jwt.setIssuedAt(iat);
  return jwt.setExpirationTime(exp).sign(new TextEncoder().encode(secret));
}
