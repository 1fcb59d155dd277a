/**
 * End-user access tokens: short-lived HS256 JWTs signed and checked with `fast-jwt` (synchronous
 * `node:crypto` HMAC on a key prepared once; issue 15: `jose`'s WebCrypto check was a third of a
 * connect's CPU). A token names one user (`sub`) and may narrow access to some jobs (the `jobs`
 * claim); its audience names the app, so a token of one app never opens another app's streams even
 * when both share a secret.
 */
import { createSigner, createVerifier, TokenError } from 'fast-jwt';
import { z } from 'zod';
import { SeennError } from '../errors.js';
import { DescriptorSchema } from '../model/descriptor.js';
import { isJobIdShape } from '../model/ids.js';
import { parseOrThrow } from '../options.js';

/** What a verified token (or an app's `authenticate` hook) grants: one user, maybe some jobs only. */
export interface Principal {
  /** The user whose jobs may be read. */
  readonly userId: string;
  /**
   * When present, only these jobs (and their children) may be read; absent means every job of the
   * user.
   */
  readonly jobIds?: readonly string[];
  /** When access ends (epoch ms); open streams are closed at that instant. Absent: never. */
  readonly expiresAtMs?: number;
}

/** Input of {@link TokenService.issue}. */
export interface IssueTokenOptions {
  /** The user the token lets its bearer watch. */
  userId: string;
  /** Narrows the token to these jobs (and their children); 1–100 Seenn job ids. @defaultValue every job of the user */
  jobIds?: readonly string[];
  /** Lifetime in seconds, 1 to 2 592 000 (30 days). @defaultValue 900 (15 minutes) */
  ttlSeconds?: number;
}

/** Defaults of {@link IssueTokenOptions}. */
export const TOKEN_DEFAULTS = Object.freeze({ ttlSeconds: 900 });

/** Bounds on tokens: lifetime, scoped job ids, and the length of a token string we agree to verify. */
export const TOKEN_LIMITS = Object.freeze({ maxTtlSeconds: 30 * 24 * 3600, maxJobIds: 100, maxTokenChars: 8192 });

/** The `iss` claim of tokens this package issues. */
const ISSUER = 'seenn-bullmq';

const JobIdsSchema = z
  .array(z.string().refine(isJobIdShape, 'each job id must be a Seenn job id (URL-safe, at most 512 characters)'))
  .min(1)
  .max(TOKEN_LIMITS.maxJobIds);

const IssueSchema = z
  .object({
    userId: DescriptorSchema.shape.userId,
    jobIds: JobIdsSchema.optional(),
    ttlSeconds: z.number().int().min(1).max(TOKEN_LIMITS.maxTtlSeconds).default(TOKEN_DEFAULTS.ttlSeconds),
  })
  .strict();

const ClaimsSchema = z.object({
  sub: DescriptorSchema.shape.userId,
  exp: z.number().int(),
  iat: z.number().optional(),
  jobs: JobIdsSchema.optional(),
});

/** Turns a secret given as a string or bytes into key bytes. */
export function secretBytes(secret: string | Uint8Array): Uint8Array {
  return typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
}

/**
 * Issues and verifies end-user tokens of one app (`seenn.tokens`).
 *
 * @example
 * ```ts
 * const token = await seenn.tokens.issue({ userId: 'u1', ttlSeconds: 600 });
 * // browser: new EventSource(`/v1/sse?token=${token}`)
 * ```
 */
export class TokenService {
  /** Signs with the secret, made on first use. */
  private signer: ((payload: Record<string, unknown>) => string) | null = null;
  /** Checks this app's tokens, made on first use. */
  private verifier: TokenVerifier | null = null;

  /**
   * @param secret - the HS256 key (at least 32 bytes), or `null` when the app configured none
   * @param appId - the app the tokens are for (their audience)
   */
  constructor(
    private readonly secret: Uint8Array | null,
    private readonly appId: string,
  ) {}

  /**
   * Signs a token for `userId`. Throws `CONFIG_INVALID` when `new Seenn({ tokenSecret })` was not
   * given, and `VALIDATION_ERROR` on bad input.
   */
  async issue(options: IssueTokenOptions): Promise<string> {
    const input = parseOrThrow(IssueSchema, options, 'token options', 'VALIDATION_ERROR');
    this.signer ??= createSigner({ key: Buffer.from(this.requireSecret()), algorithm: 'HS256' });
    const nowSeconds = Math.floor(Date.now() / 1000);
    return this.signer({
      sub: input.userId,
      iss: ISSUER,
      aud: audienceOf(this.appId),
      iat: nowSeconds,
      exp: nowSeconds + input.ttlSeconds,
      ...(input.jobIds === undefined ? {} : { jobs: input.jobIds }),
    });
  }

  /** Verifies a token of this app; throws `UNAUTHORIZED` when it is malformed, forged or expired. */
  async verify(token: string): Promise<Principal> {
    this.verifier ??= createTokenVerifier(this.requireSecret(), this.appId);
    return this.verifier(token);
  }

  private requireSecret(): Uint8Array {
    if (this.secret === null)
      throw new SeennError('CONFIG_INVALID', 'tokens need `new Seenn({ tokenSecret })` (at least 32 bytes)');
    return this.secret;
  }
}

/** The `aud` claim of an app's tokens. */
function audienceOf(appId: string): string {
  return `seenn:${appId}`;
}

/** How far in the future a token's `iat` may lie (clock skew between the issuer and the bridge), in seconds. */
const IAT_SKEW_SECONDS = 60;

/**
 * Checks one token synchronously and returns its principal; throws a {@link SeennError} `UNAUTHORIZED`
 * whose message says why (never echoing the token) and whose `details.reason` is `'expired'` or
 * `'invalid'`.
 */
export type TokenVerifier = (token: string) => Principal;

/**
 * The verifier of HS256 tokens issued for `appId` with `secret`, made once (the HMAC key is prepared
 * here, not per token). Only `alg: HS256` is accepted (never `none`, another HMAC size or a public-key
 * algorithm); `iss`, `aud`, `sub` and `exp` are required and checked.
 *
 * With `maxTokenAgeSeconds`, the token must carry `iat` (not more than a minute in the future) and is
 * refused once it is older than that, whatever its `exp`: the principal then expires at the earlier
 * of `exp` and `iat + maxTokenAgeSeconds`.
 */
export function createTokenVerifier(secret: Uint8Array, appId: string, maxTokenAgeSeconds?: number): TokenVerifier {
  const verifyJwt = createVerifier({
    key: Buffer.from(secret),
    algorithms: ['HS256'],
    allowedIss: ISSUER,
    allowedAud: audienceOf(appId),
    requiredClaims:
      maxTokenAgeSeconds === undefined ? ['iss', 'aud', 'sub', 'exp'] : ['iss', 'aud', 'sub', 'exp', 'iat'],
  });
  return (token) => {
    if (typeof token !== 'string' || token.length === 0 || token.length > TOKEN_LIMITS.maxTokenChars)
      throw new SeennError('UNAUTHORIZED', 'the token is malformed', { details: { reason: 'invalid' } });
    let payload: unknown;
    try {
      payload = verifyJwt(token);
    } catch (error) {
      if (error instanceof TokenError && error.code === TokenError.codes.expired)
        throw new SeennError('UNAUTHORIZED', 'the token has expired', { details: { reason: 'expired' } });
      throw new SeennError('UNAUTHORIZED', 'the token is invalid', { details: { reason: 'invalid' } });
    }
    return principalOf(payload, maxTokenAgeSeconds);
  };
}

/** The principal of a payload whose signature and registered claims were checked. */
function principalOf(payload: unknown, maxTokenAgeSeconds: number | undefined): Principal {
  const claims = ClaimsSchema.safeParse(payload);
  if (!claims.success) throw new SeennError('UNAUTHORIZED', 'the token is invalid', { details: { reason: 'invalid' } });
  const { sub, exp, iat, jobs } = claims.data;
  let expiresAtMs = exp * 1000;
  if (maxTokenAgeSeconds !== undefined) {
    const nowSeconds = Date.now() / 1000;
    if (iat === undefined || iat > nowSeconds + IAT_SKEW_SECONDS)
      throw new SeennError('UNAUTHORIZED', 'the token is invalid', { details: { reason: 'invalid' } });
    if (nowSeconds - iat >= maxTokenAgeSeconds)
      throw new SeennError('UNAUTHORIZED', 'the token is older than this server accepts', {
        details: { reason: 'expired' },
      });
    expiresAtMs = Math.min(expiresAtMs, (iat + maxTokenAgeSeconds) * 1000);
  }
  return jobs === undefined ? { userId: sub, expiresAtMs } : { userId: sub, jobIds: jobs, expiresAtMs };
}
