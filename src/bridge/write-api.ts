/**
 * Seenn's backend API over HTTP — the write routes the official `@seenn/node` SDK (and its Python
 * twin) calls — as route-table handlers (`src/route-table.ts`), framework-free:
 *
 * | route | does |
 * |---|---|
 * | `POST /jobs` | creates a Seenn-only job (`totalChildren` → parent; `parentJobId` + `childIndex` → child); 201 |
 * | `POST /jobs/:id/progress` | `{ progress, message?, queue?, stage?, estimatedCompletionAt?, metadata? }` |
 * | `POST /jobs/:id/complete` | `{ result?, message? }` |
 * | `POST /jobs/:id/fail` | `{ error: { code, message, details? }, retryable? }` |
 * | `POST /jobs/:id/cancel` | `{ reason? }` — also by the job's owner with an end-user token |
 * | `GET /eta/:key`, `GET /eta`, `DELETE /eta/:key` | run-time statistics per workflow |
 * | `GET /jobs/:id`, `GET /jobs?userId=`, `GET /jobs/:id/children` | reads of any user's jobs, with a backend key |
 *
 * They exist only when the app passes `writeApi: { apiKeys }` or `writeApi: { authenticate }` to
 * `seenn.bridge(...)`. A backend key is never an end-user token: an end-user token on a write route
 * answers 403 (401 without valid credentials). `push` and `liveActivity` fields are accepted and
 * ignored. `Idempotency-Key` on a POST makes a retry answer the first response (24 h). Bodies are
 * JSON, at most `maxBodyBytes`; errors are the usual envelope.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { Principal } from '../auth/tokens.js';
import type { SeennContext } from '../context.js';
import { SeennError } from '../errors.js';
import {
  cancelJob,
  completeJob,
  createSeennOnlyChild,
  createSeennOnlyParent,
  failJob,
  setJobProgress,
  startSeennOnlyJob,
  type SeennOnlyJobInput,
} from '../handles/index.js';
import { isJobIdShape } from '../model/ids.js';
import { CHILD_PROGRESS_MODES, LIMITS, TtlSecondsSchema, type SeennJob } from '../model/job.js';
import { parseOrThrow } from '../options.js';
import { POSITION_DEFAULTS } from '../position/index.js';
import type { EtaRunsStore } from '../store/history-store.js';
import { IdempotencyStore } from '../store/idempotency-store.js';
import { jsonAnswer, type AnswerHeaders, type RouteAnswer, type RouteRequest } from '../route-table.js';
import { canSee, jobNotFound, type Authenticator } from './authenticate.js';
import { RateLimitSchema, type RateLimitOptions } from './options.js';
import { RateLimitExceeded, RateLimiter, spendBudget } from './rate-limiter.js';
import { bridgeErrorAnswer, toSeennError } from './http.js';
import { getChildren, getJob, listJobs, type RestJobReader } from './rest.js';

/** Limits of the write API, whichever way the backend authenticates. */
export interface WriteApiLimits {
  /** The largest request body accepted, in bytes (413 beyond). @defaultValue 262144 (256 KiB) */
  maxBodyBytes?: number;
  /**
   * Budget of backend requests on this process, per API key (all requests an `authenticate` hook
   * accepts share one): beyond it 429 `RATE_LIMIT_EXCEEDED` with `Retry-After`; every answer carries
   * `X-RateLimit-Limit` and `X-RateLimit-Remaining`. `null` = unlimited. Counted per process, like
   * the bridge's `rateLimit` (which also counts end users' `POST /jobs/:id/cancel`, apart from reads).
   * @defaultValue `{ requests: 6000, perMs: 60000 }`
   */
  rateLimit?: RateLimitOptions | null;
}

/** How the backend authenticates to the write routes, and their limits. */
export type WriteApiOptions<Req = IncomingMessage> = WriteApiLimits &
  (
    | {
        /** Backend API keys (`Authorization: Bearer <key>`); Seenn SDKs send keys shaped `sk_live_…`. */
        apiKeys: readonly string[];
      }
    | {
        /** Returns true when the request comes from the app's backend. */
        authenticate(req: Req): boolean | Promise<boolean>;
      }
  );

/** The limits both kinds of `writeApi` options take. */
const LIMITS_SCHEMA = {
  maxBodyBytes: z
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .optional(),
  rateLimit: RateLimitSchema.nullable().optional(),
};

/** The defaults of {@link WriteApiOptions}. */
export const WRITE_API_DEFAULTS = Object.freeze({
  maxBodyBytes: 256 * 1024,
  /** How long an `Idempotency-Key` answer is kept. */
  idempotencySeconds: 24 * 3600,
  /** The shortest API key accepted. */
  minApiKeyChars: 20,
  /** Backend requests per credential and process: 100 per second on average. */
  rateLimit: Object.freeze({ requests: 6_000, perMs: 60_000 }),
});

const WriteApiOptionsSchema = z.union([
  z
    .object({
      apiKeys: z
        .array(
          z
            .string()
            .min(
              WRITE_API_DEFAULTS.minApiKeyChars,
              `API keys must have at least ${WRITE_API_DEFAULTS.minApiKeyChars} characters`,
            )
            .max(500)
            .regex(
              /^[A-Za-z0-9_-]+$/,
              'API keys may hold letters, digits, _ and - only (so no key can look like an end-user token)',
            ),
        )
        .min(1),
      ...LIMITS_SCHEMA,
    })
    .strict(),
  z
    .object({
      authenticate: z.custom<(req: unknown) => unknown>(
        (value) => typeof value === 'function',
        'writeApi.authenticate must be a function',
      ),
      ...LIMITS_SCHEMA,
    })
    .strict(),
]);

/** The 413 of a body over `maxBodyBytes`. */
class BodyTooLarge extends SeennError {
  constructor(limit: number) {
    super('PAYLOAD_TOO_LARGE', `the request body is larger than ${limit} bytes`, { details: { limit } });
  }

  override get status(): number {
    return 413;
  }
}

/** The ETA statistics of one workflow, as Seenn's `GET /eta/:key` answers them (durations in ms). */
export interface EtaStats {
  etaKey: string;
  count: number;
  avgDuration: number;
  p50Duration: number;
  p95Duration: number;
  minDuration: number;
  maxDuration: number;
  confidence: number;
  lastUpdated: string;
}

const isoInput = z.iso.datetime({ offset: true });
const ignored = z.unknown().optional();

/** The body of `POST /jobs`: every field `@seenn/node` sends. */
const CreateBodySchema = z
  .object({
    jobType: z.string(),
    userId: z.string(),
    title: z.string(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    queue: z.unknown().optional(),
    stage: z.unknown().optional(),
    estimatedCompletionAt: isoInput.optional(),
    estimatedDuration: z.number().optional(),
    ttlSeconds: TtlSecondsSchema.optional(),
    workflowId: z.string().optional(),
    /** `@seenn/node` 0.2.0 sent `version` where later versions send `workflowId`. */
    version: z.string().min(1).max(LIMITS.jobTypeChars).optional(),
    totalChildren: z.number().int().min(1).max(LIMITS.maxChildren).optional(),
    childProgressMode: z.enum(CHILD_PROGRESS_MODES).optional(),
    parentJobId: z.string().min(1).max(512).optional(),
    childIndex: z
      .number()
      .int()
      .min(0)
      .max(LIMITS.maxChildren - 1)
      .optional(),
    push: ignored,
    liveActivity: ignored,
  })
  .strict()
  .refine((body) => body.totalChildren === undefined || body.parentJobId === undefined, {
    message: 'totalChildren (a parent) and parentJobId (a child) cannot both be given',
    path: ['parentJobId'],
  })
  .refine((body) => body.childProgressMode === undefined || body.totalChildren !== undefined, {
    message: 'childProgressMode needs totalChildren',
    path: ['childProgressMode'],
  })
  .refine((body) => (body.parentJobId === undefined) === (body.childIndex === undefined), {
    message: 'a child needs both parentJobId and childIndex',
    path: ['childIndex'],
  });

/** `push` and `liveActivity` (Seenn Cloud's push options) are accepted and ignored everywhere. */
function withoutPush(body: Record<string, unknown>): Record<string, unknown> {
  const { push: _push, liveActivity: _liveActivity, ...rest } = body;
  return rest;
}

/** Reads a JSON object body of at most `limit` bytes (an empty body is `{}`). */
async function readJsonBody(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  // A body parser mounted before the router (express.json()) has read the stream already.
  const parsed = (req as IncomingMessage & { body?: unknown }).body;
  if (parsed !== undefined && req.readableEnded) return asObject(parsed);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLarge(limit);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SeennError('VALIDATION_ERROR', 'the request body is not valid JSON', { details: {} });
  }
  return asObject(value);
}

function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SeennError('VALIDATION_ERROR', 'the request body must be a JSON object', { details: {} });
  return value as Record<string, unknown>;
}

/** The bearer credential of a request, or `null`. */
function bearer(req: IncomingMessage): string | null {
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1] ?? null;
}

/** A stored answer to an `Idempotency-Key`. */
interface StoredAnswer {
  status: number;
  body: unknown;
  /** SHA-256 of the request body the answer belongs to. */
  bodyHash: string;
}

/** The write routes, framework-free: each handler takes a {@link RouteRequest} and gives its answer (never throws). */
export class WriteApi<Req extends IncomingMessage = IncomingMessage> {
  private readonly keys: Buffer[];
  private readonly hook: ((req: Req) => boolean | Promise<boolean>) | null;
  private readonly maxBodyBytes: number;
  private readonly limiter: RateLimiter | null;
  private readonly userLimiter: RateLimiter | null;
  private readonly idempotency: IdempotencyStore;
  private readonly etaRuns: EtaRunsStore;
  /** What `POST /jobs/:id/cancel` needs. */
  private readonly cancelRoute: CancelRouteContext<Req>;

  /**
   * @param ctx - the Seenn context (the handles' write functions take it whole)
   * @param jobs - `seenn.jobs` (reads are decorated with positions and ETAs)
   * @param options - see {@link WriteApiOptions}; validated here (`CONFIG_INVALID`)
   * @param users - the bridge's end-user authenticator (for `POST /jobs/:id/cancel` by a job's owner)
   * @param userRateLimit - the bridge's per-user `rateLimit`, for end users' cancels (`null` = unlimited)
   */
  constructor(
    private readonly ctx: SeennContext,
    private readonly jobs: RestJobReader,
    options: WriteApiOptions<Req>,
    private readonly users: Authenticator<Req>,
    userRateLimit: RateLimitOptions | null,
  ) {
    parseOrThrow(WriteApiOptionsSchema, options, 'writeApi options');
    this.keys = 'apiKeys' in options ? options.apiKeys.map((key) => createHash('sha256').update(key).digest()) : [];
    this.hook = 'authenticate' in options ? (req) => options.authenticate(req) : null;
    this.maxBodyBytes = options.maxBodyBytes ?? WRITE_API_DEFAULTS.maxBodyBytes;
    const rateLimit = options.rateLimit === undefined ? WRITE_API_DEFAULTS.rateLimit : options.rateLimit;
    this.limiter = rateLimit === null ? null : new RateLimiter(rateLimit);
    this.userLimiter = userRateLimit === null ? null : new RateLimiter(userRateLimit);
    this.idempotency = new IdempotencyStore(ctx.redis, ctx.keys);
    this.etaRuns = ctx.store.seennOnlyRuns;
    this.cancelRoute = {
      ctx,
      jobs,
      users,
      backendOf: (request) => this.backendOf(request),
      backendLimiter: this.limiter,
      userLimiter: this.userLimiter,
      maxBodyBytes: this.maxBodyBytes,
    };
  }

  /** Whether `req` carries backend credentials (an API key, or the app's hook says so). */
  async isBackend(req: Req): Promise<boolean> {
    return (await this.backendOf(req)) !== null;
  }

  /**
   * The credential `req` carries as the key of its rate-limit budget (`key:<n>` for the n-th API key,
   * `hook` for a request the app's hook accepts), or `null` without backend credentials.
   */
  private async backendOf(req: Req): Promise<string | null> {
    if (this.hook !== null) return (await this.hook(req)) === true ? 'hook' : null;
    const token = bearer(req);
    if (token === null) return null;
    const digest = createHash('sha256').update(token).digest();
    let found = -1;
    // Every key is compared, so the time taken does not tell which one matched.
    for (const [i, key] of this.keys.entries()) if (timingSafeEqual(key, digest)) found = i;
    return found < 0 ? null : `key:${found}`;
  }

  /** `POST /jobs`: creates a Seenn-only job, parent or child; 201 with the job object. */
  create(req: RouteRequest<Req>): Promise<RouteAnswer> {
    return this.write(req, 201, (body) => this.createJob(body));
  }

  /** `POST /jobs/:id/progress`. */
  progress(req: RouteRequest<Req>): Promise<RouteAnswer> {
    const jobId = idParam(req);
    return this.write(req, 200, (body) => {
      checkId(jobId);
      const { progress, ...options } = withoutPush(body);
      return setJobProgress(this.ctx, jobId, progress, options);
    });
  }

  /** `POST /jobs/:id/complete`. */
  complete(req: RouteRequest<Req>): Promise<RouteAnswer> {
    const jobId = idParam(req);
    return this.write(req, 200, (body) => {
      checkId(jobId);
      return completeJob(this.ctx, jobId, withoutPush(body));
    });
  }

  /** `POST /jobs/:id/fail`. */
  fail(req: RouteRequest<Req>): Promise<RouteAnswer> {
    const jobId = idParam(req);
    return this.write(req, 200, (body) => {
      checkId(jobId);
      return failJob(this.ctx, jobId, withoutPush(body));
    });
  }

  /**
   * `POST /jobs/:id/cancel`: by the backend (any job) or by the job's owner with an end-user token
   * (anyone else's job answers 404, as every read does).
   */
  cancel(req: RouteRequest<Req>): Promise<RouteAnswer> {
    return answerCancel(this.cancelRoute, req);
  }

  /** `GET /eta/:key`: the workflow's run-time statistics; 404 (`details.id`) when it has none. */
  etaGet(req: RouteRequest<Req>): Promise<RouteAnswer> {
    const etaKey = req.params['key'] ?? '';
    return this.backend(req, async () => {
      const stats = await this.etaStats(etaKey);
      if (stats === null)
        throw new SeennError('NOT_FOUND', `no ETA statistics for ${etaKey}`, { details: { id: etaKey } });
      return stats;
    });
  }

  /** `GET /eta`: `{ stats: [...] }` for every workflow with history. */
  etaList(req: RouteRequest<Req>): Promise<RouteAnswer> {
    return this.backend(req, async () => {
      const etaKeys = await this.etaRuns.workflowIds();
      const stats = (await Promise.all(etaKeys.map((key) => this.etaStats(key)))).filter(
        (value): value is EtaStats => value !== null,
      );
      return { stats };
    });
  }

  /** `DELETE /eta/:key`: forgets the workflow's history; `{ etaKey, deleted }` (JSON: Seenn SDKs parse every answer). */
  etaDelete(req: RouteRequest<Req>): Promise<RouteAnswer> {
    const etaKey = req.params['key'] ?? '';
    return this.backend(req, async () => {
      checkEtaKey(etaKey);
      return { etaKey, deleted: await this.etaRuns.delete(etaKey) };
    });
  }

  /**
   * Backend reads (`GET /jobs/:id`, `GET /jobs?userId=`, `GET /jobs/:id/children`): answered here when
   * `req` carries backend credentials (any user's job), else `null`: the end-user route answers it.
   */
  async backendRead(req: RouteRequest<Req>, kind: 'job' | 'children' | 'list'): Promise<RouteAnswer | null> {
    try {
      if (!(await this.isBackend(req.raw))) return null;
    } catch (error) {
      return answerError(error, {});
    }
    return this.backend(req, async () => {
      if (kind === 'list') {
        const userId = req.query.get('userId');
        if (userId === null || userId === '')
          throw new SeennError('VALIDATION_ERROR', '`userId` is required', {
            details: { issues: [{ path: 'userId', message: 'required' }] },
          });
        return listJobs(this.jobs, { userId }, req.query);
      }
      const jobId = idParam(req);
      const owner = await this.ownerPrincipal(jobId);
      return kind === 'job' ? getJob(this.jobs, owner, jobId) : getChildren(this.jobs, owner, jobId);
    });
  }

  /** The principal of a job's owner (what a backend read acts as); 404 for an unknown job. */
  private async ownerPrincipal(jobId: string): Promise<Principal> {
    checkId(jobId);
    const owner = await this.ctx.store.ownerOf(jobId);
    if (owner === null) throw jobNotFound(jobId);
    return { userId: owner };
  }

  /** Backend-only, body-less routes: 401 without credentials, 403 with an end-user token. */
  private async backend(req: RouteRequest<Req>, answer: () => Promise<unknown>): Promise<RouteAnswer> {
    let headers: AnswerHeaders = {};
    try {
      headers = await this.requireBackend(req);
      return jsonAnswer(await answer(), 200, headers);
    } catch (error) {
      return answerError(error, headers);
    }
  }

  /** Backend-only POST routes: credentials, body, `Idempotency-Key`, then `answer(body)`. */
  private async write(
    req: RouteRequest<Req>,
    status: number,
    answer: (body: Record<string, unknown>) => Promise<SeennJob>,
  ): Promise<RouteAnswer> {
    let headers: AnswerHeaders = {};
    try {
      headers = await this.requireBackend(req);
      const body = await readJsonBody(req.raw, this.maxBodyBytes);
      const idempotencyKey = req.headers['idempotency-key'];
      if (typeof idempotencyKey !== 'string' || idempotencyKey === '')
        return jsonAnswer(await answer(body), status, headers);
      const replay = await this.idempotent(req, idempotencyKey, body, status, answer);
      return jsonAnswer(
        replay.body,
        replay.status,
        replay.replayed ? { ...headers, 'Idempotency-Replayed': 'true' } : headers,
      );
    } catch (error) {
      return answerError(error, headers);
    }
  }

  /**
   * Runs `answer` once per `Idempotency-Key` (per credential, method and path): a retry gets the first
   * success again; a retry while the first is still running answers `CONFLICT`, and the same key with
   * another body `VALIDATION_ERROR`. A failed first attempt frees the key.
   */
  private async idempotent(
    req: RouteRequest<Req>,
    idempotencyKey: string,
    body: Record<string, unknown>,
    status: number,
    answer: (body: Record<string, unknown>) => Promise<SeennJob>,
  ): Promise<{ status: number; body: unknown; replayed: boolean }> {
    if (idempotencyKey.length > 255)
      throw new SeennError('VALIDATION_ERROR', 'Idempotency-Key must be at most 255 characters', { details: {} });
    // The path below the bridge's mount (as Express's `req.url` gave it before the route table).
    const path = req.path.slice(req.basePath.length);
    const scope = createHash('sha256')
      .update(`${bearer(req.raw) ?? ''}\n${req.method}\n${path}\n${idempotencyKey}`)
      .digest('base64url');
    const bodyHash = createHash('sha256').update(JSON.stringify(body)).digest('base64url');
    const ttlSeconds = WRITE_API_DEFAULTS.idempotencySeconds;
    if (!(await this.idempotency.claim(scope, JSON.stringify({ pending: true, bodyHash }), ttlSeconds))) {
      const stored = JSON.parse((await this.idempotency.read(scope)) ?? '{}') as Partial<StoredAnswer> & {
        pending?: boolean;
      };
      if (stored.bodyHash !== bodyHash)
        throw new SeennError('VALIDATION_ERROR', 'this Idempotency-Key was used with another request body', {
          details: { reason: 'idempotency-key-reused' },
        });
      if (stored.pending === true || stored.status === undefined)
        throw new SeennError('CONFLICT', 'a request with this Idempotency-Key is still being processed; retry later', {
          details: { reason: 'idempotency-key-in-progress' },
        });
      return { status: stored.status, body: stored.body, replayed: true };
    }
    try {
      const job = await answer(body);
      const stored: StoredAnswer = { status, body: job, bodyHash };
      await this.idempotency.save(scope, JSON.stringify(stored), ttlSeconds);
      return { status, body: job, replayed: false };
    } catch (error) {
      await this.idempotency.release(scope);
      throw error;
    }
  }

  /**
   * Throws 401 without valid credentials and 403 for an end-user token (which never writes); counts
   * the request against its credential's budget (429 beyond it). Returns the rate-limit headers.
   */
  private async requireBackend(req: RouteRequest<Req>): Promise<AnswerHeaders> {
    const backend = await this.backendOf(req.raw);
    if (backend !== null) return this.limiter === null ? {} : spendBudget(this.limiter, backend);
    // Valid end-user credentials are refused outright; anything else is not authenticated.
    const principal = await this.users.authenticate(req.raw, req.query, false).catch(() => null);
    this.ctx.metrics.authFailure(principal === null ? 401 : 403);
    if (principal !== null)
      throw new SeennError('FORBIDDEN', 'end-user credentials cannot use the backend API; use a backend API key', {
        details: { reason: 'end-user-token' },
      });
    throw new SeennError('UNAUTHORIZED', 'a backend API key is required: `Authorization: Bearer <key>`', {
      details: { reason: bearer(req.raw) === null ? 'missing' : 'invalid' },
    });
  }

  /** `POST /jobs` for one of Seenn's three shapes. */
  private async createJob(raw: Record<string, unknown>): Promise<SeennJob> {
    const body = parseOrThrow(CreateBodySchema, raw, 'job', 'VALIDATION_ERROR');
    const input: Record<string, unknown> = { userId: body.userId, jobType: body.jobType, title: body.title };
    for (const name of [
      'metadata',
      'queue',
      'stage',
      'estimatedCompletionAt',
      'estimatedDuration',
      'ttlSeconds',
    ] as const)
      if (body[name] !== undefined) input[name] = body[name];
    const workflowId = body.workflowId ?? body.version;
    if (workflowId !== undefined) input['workflowId'] = workflowId;
    const fields = input as unknown as SeennOnlyJobInput;
    if (body.totalChildren !== undefined) {
      // Seenn's rule: a failed child does not fail its parent unless `metadata.failOnChildFailure` is true.
      const failParentOnChildFailure = body.metadata?.['failOnChildFailure'] === true;
      return createSeennOnlyParent(this.ctx, fields, {
        childCount: body.totalChildren,
        childProgressMode: body.childProgressMode ?? 'average',
        failParentOnChildFailure,
      });
    }
    if (body.parentJobId !== undefined && body.childIndex !== undefined) {
      return createSeennOnlyChild(this.ctx, fields, { parentJobId: body.parentJobId, childIndex: body.childIndex });
    }
    return startSeennOnlyJob(this.ctx, fields);
  }

  /** The statistics of one workflow, or `null` when it has no history. */
  private async etaStats(etaKey: string): Promise<EtaStats | null> {
    checkEtaKey(etaKey);
    const { samples, ttlMs } = await this.etaRuns.read(etaKey);
    const sorted = samples
      .map(Number)
      .filter(Number.isFinite)
      .sort((a, b) => a - b);
    if (sorted.length === 0) return null;
    const count = sorted.length;
    const at = (q: number): number => sorted[Math.min(count - 1, Math.max(0, Math.ceil(q * count) - 1))] as number;
    // Each completion renews the history's TTL: the time since the last one is what the TTL lost.
    const lastUpdatedMs = ttlMs > 0 ? Date.now() - (this.ctx.history.historySeconds * 1000 - ttlMs) : Date.now();
    return {
      etaKey,
      count,
      avgDuration: Math.round(sorted.reduce((sum, value) => sum + value, 0) / count),
      p50Duration: at(0.5),
      p95Duration: at(0.95),
      minDuration: sorted[0] as number,
      maxDuration: sorted[count - 1] as number,
      confidence: Math.round(Math.min(1, count / POSITION_DEFAULTS.etaFullConfidenceSamples) * 100) / 100,
      lastUpdated: new Date(lastUpdatedMs).toISOString(),
    };
  }
}

/** What {@link answerCancel} needs. */
export interface CancelRouteContext<Req extends IncomingMessage> {
  /** The Seenn context `cancelJob` (`handles/`) takes, and the metrics auth failures are counted in. */
  ctx: SeennContext;
  jobs: RestJobReader;
  /** The bridge's end-user authenticator. */
  users: Authenticator<Req>;
  /** The budget key of the request's backend credentials, or `null` (always `null` without `writeApi`). */
  backendOf: (req: Req) => Promise<string | null>;
  /** The budget of backend credentials (`writeApi.rateLimit`); `null` = unlimited. */
  backendLimiter: RateLimiter | null;
  /** The budget of end users' cancels (the bridge's `rateLimit`, counted apart from reads); `null` = unlimited. */
  userLimiter: RateLimiter | null;
  maxBodyBytes: number;
}

/**
 * `POST /jobs/:id/cancel` with `{ reason? }`: by the backend (any job) or by the job's owner with an
 * end-user token (anyone else's job answers 404, as every read does). Served by every bridge; backend
 * keys work only with `writeApi`. Never throws.
 */
export async function answerCancel<Req extends IncomingMessage>(
  route: CancelRouteContext<Req>,
  req: RouteRequest<Req>,
): Promise<RouteAnswer> {
  let headers: AnswerHeaders = {};
  const jobId = idParam(req);
  try {
    const backend = await route.backendOf(req.raw);
    if (backend !== null) {
      if (route.backendLimiter !== null) headers = spendBudget(route.backendLimiter, backend);
    } else {
      const principal = await route.users.authenticate(req.raw, req.query, false);
      if (route.userLimiter !== null) headers = spendBudget(route.userLimiter, principal.userId);
      checkId(jobId);
      const job = await route.jobs.get(jobId);
      if (job === null || !canSee(principal, job)) throw jobNotFound(jobId);
    }
    const body = await readJsonBody(req.raw, route.maxBodyBytes);
    checkId(jobId);
    return jsonAnswer(await cancelJob(route.ctx, jobId, body), 200, headers);
  } catch (error) {
    route.ctx.metrics.authFailure(toSeennError(error).status);
    return answerError(error, headers);
  }
}

/** The error envelope with the rate-limit headers (a 429's own, with `Retry-After`, when over budget). */
function answerError(error: unknown, headers: AnswerHeaders): RouteAnswer {
  return bridgeErrorAnswer(toSeennError(error), error instanceof RateLimitExceeded ? error.headers : headers);
}

/** The `:id` of a route. */
function idParam(req: RouteRequest<unknown>): string {
  return req.params['id'] ?? '';
}

/** 404 for an id no job can have. */
function checkId(jobId: string): void {
  if (!isJobIdShape(jobId)) throw jobNotFound(jobId);
}

/** 404 for an ETA key no workflow can have. */
function checkEtaKey(etaKey: string): void {
  if (etaKey.length === 0 || etaKey.length > LIMITS.jobTypeChars || /[*?[\]\\]/.test(etaKey))
    throw new SeennError('NOT_FOUND', `no ETA statistics for ${etaKey}`, { details: { id: etaKey } });
}
