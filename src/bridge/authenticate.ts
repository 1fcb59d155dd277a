/**
 * Who a request acts for: a verified token or the app's `authenticate` hook, then the checks every
 * route shares (the `userId` query must be the caller's; scoped tokens see only their jobs).
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { createTokenVerifier, type Principal, type TokenVerifier } from '../auth/tokens.js';
import { SeennError } from '../errors.js';
import { DescriptorSchema } from '../model/descriptor.js';
import { isJobIdShape } from '../model/ids.js';
import type { SeennJob } from '../model/job.js';
import type { AuthResult, ResolvedAuth } from './options.js';
import { VerifiedTokenCache } from './token-cache.js';

const HookResultSchema = z.object({
  userId: DescriptorSchema.shape.userId,
  jobIds: z.array(z.string().refine(isJobIdShape)).optional(),
  expiresAt: z.union([z.date(), z.number()]).optional(),
});

/** Turns requests into {@link Principal}s. */
export class Authenticator<Req extends IncomingMessage> {
  /** The token check of this app's secret, made on first use. */
  private verifier: TokenVerifier | null = null;
  /** Tokens verified already, until they expire (see `token-cache.ts`). */
  private readonly verified = new VerifiedTokenCache();

  /**
   * @param auth - the resolved auth option
   * @param appId - the app whose tokens are accepted
   * @param maxTokenAgeSeconds - tokens older than this (by `iat`) are refused
   */
  constructor(
    private readonly auth: ResolvedAuth<Req>,
    private readonly appId: string,
    private readonly maxTokenAgeSeconds: number,
  ) {}

  /**
   * The principal of `req`, or a thrown `UNAUTHORIZED` (401). `allowQueryToken` lets the `token` query
   * parameter stand in for the `Authorization` header (for `EventSource`, which cannot set headers).
   */
  async authenticate(req: Req, query: URLSearchParams, allowQueryToken: boolean): Promise<Principal> {
    if (this.auth.kind === 'hook') return fromHook(await this.auth.authenticate(req));
    const token = bearerToken(req) ?? (allowQueryToken ? query.get('token') : null);
    if (token === null || token === '')
      throw new SeennError('UNAUTHORIZED', 'a token is required: `Authorization: Bearer <token>`', {
        details: { reason: 'missing' },
      });
    const known = this.verified.get(token);
    if (known !== null) return known;
    this.verifier ??= createTokenVerifier(this.auth.secret, this.appId, this.maxTokenAgeSeconds);
    const principal = this.verifier(token);
    this.verified.set(token, principal);
    return principal;
  }
}

/** The principal an `authenticate` hook answered: `null` is a 401, anything malformed a 500. */
function fromHook(result: AuthResult | null): Principal {
  if (result === null || result === undefined)
    throw new SeennError('UNAUTHORIZED', 'the request is not authenticated', { details: { reason: 'refused' } });
  const parsed = HookResultSchema.safeParse(result);
  if (!parsed.success)
    throw new SeennError(
      'INTERNAL_ERROR',
      'the authenticate hook returned something other than { userId, jobIds?, expiresAt? }',
    );
  const { userId, jobIds, expiresAt } = parsed.data;
  const expiresAtMs = expiresAt === undefined ? undefined : expiresAt instanceof Date ? expiresAt.getTime() : expiresAt;
  if (expiresAtMs !== undefined && expiresAtMs <= Date.now())
    throw new SeennError('UNAUTHORIZED', 'the credentials have expired', { details: { reason: 'expired' } });
  return { userId, ...(jobIds === undefined ? {} : { jobIds }), ...(expiresAtMs === undefined ? {} : { expiresAtMs }) };
}

/** The token of an `Authorization: Bearer <token>` header, or `null`. */
function bearerToken(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (header === undefined) return null;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? '';
}

/** Throws `FORBIDDEN` (403) when the request names a `userId` that is not the caller's. */
export function checkUserParam(principal: Principal, query: URLSearchParams): void {
  const asked = query.get('userId');
  if (asked !== null && asked !== principal.userId)
    throw new SeennError('FORBIDDEN', 'the userId parameter does not match the credentials');
}

/**
 * Whether `principal` may see `job`: it must be the principal's user's, and for a scoped principal
 * the job (or its parent) must be one of the scoped ids.
 */
export function canSee(principal: Principal, job: Pick<SeennJob, 'id' | 'userId' | 'parent'>): boolean {
  if (job.userId !== principal.userId) return false;
  return inScope(principal, job.id, job.parent?.parentJobId);
}

/** Whether a job id (or its parent id) is within a principal's job scope (always, when unscoped). */
export function inScope(principal: Principal, jobId: string | undefined, parentJobId?: string): boolean {
  if (principal.jobIds === undefined) return true;
  return (
    (jobId !== undefined && principal.jobIds.includes(jobId)) ||
    (parentJobId !== undefined && principal.jobIds.includes(parentJobId))
  );
}

/** The 404 answered for a job that is unknown, expired, out of scope or someone else's (never 403). */
export function jobNotFound(jobId: string): SeennError {
  return new SeennError('NOT_FOUND', 'job not found', { details: { id: jobId } });
}
