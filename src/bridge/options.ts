/**
 * Options of `seenn.bridge(...)`: units in names, defaults in {@link BRIDGE_DEFAULTS}, validated once
 * when the bridge is built (a `CONFIG_INVALID` error on bad input).
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { secretBytes, TOKEN_LIMITS } from '../auth/tokens.js';
import { SeennError } from '../errors.js';
import { parseOrThrow } from '../options.js';
import type { WriteApiOptions } from './write-api.js';

/** What an app's `authenticate` hook returns for a request it accepts. */
export interface AuthResult {
  /** The user whose jobs the request may read. */
  userId: string;
  /** When present, only these jobs (and their children) may be read. */
  jobIds?: readonly string[];
  /** When access ends; open streams are closed then. */
  expiresAt?: Date | number;
}

/**
 * How the bridge authenticates requests:
 * - `{ secret }`: verify tokens issued by `seenn.tokens.issue` (HS256, at least 32 bytes) from
 *   `Authorization: Bearer <token>`, or (on `GET /sse` only, for `EventSource`) a `token` query parameter;
 * - `{ authenticate }`: call the app's hook; `null` means 401. A hook that throws gives 500.
 */
export type BridgeAuth<Req = IncomingMessage> =
  | { secret: string | Uint8Array }
  | {
      /** Returns who the request acts for, or `null` to refuse it (401). */
      authenticate(req: Req): AuthResult | null | Promise<AuthResult | null>;
    };

/** A request budget (per user, or per backend credential for `writeApi`): at most `requests` requests in each window of `perMs` milliseconds. */
export interface RateLimitOptions {
  requests: number;
  perMs: number;
}

/**
 * Options of the bridge. Limits (`maxStreamsPerUser`, `rateLimit`) are counted **per bridge
 * process**: with N processes behind a load balancer a user may get up to N times as much.
 */
export interface BridgeOptions<Req = IncomingMessage> {
  /** How requests are authenticated. @defaultValue `{ secret: <the Seenn tokenSecret> }` */
  auth?: BridgeAuth<Req>;
  /** A `heartbeat` event goes to every stream silent for this long (no job, position or output event; the Seenn SDK gives up after 30 s of silence). @defaultValue 15000 */
  heartbeatMs?: number;
  /** Close a stream that carried no job event for this long (after a `connection.idle` event); `null` = never. @defaultValue null */
  idleTimeoutMs?: number | null;
  /** The reconnection delay suggested to clients in the `retry:` field, before jitter. @defaultValue 2000 */
  retryMs?: number;
  /** A random 0 to `retryJitterMs` added to `retryMs` per stream, to spread reconnect storms. @defaultValue 2000 */
  retryJitterMs?: number;
  /** A stream whose unsent bytes exceed this is disconnected (the client recovers through replay). @defaultValue 1048576 (1 MiB) */
  maxBufferedBytes?: number;
  /** Open streams one user may hold on this process; more answer 429 `TOO_MANY_STREAMS`. @defaultValue 20 */
  maxStreamsPerUser?: number;
  /**
   * Per-user budget of `GET`/`HEAD /sse` requests on this process, counted after authentication
   * (429 `RATE_LIMIT_EXCEEDED` with `Retry-After` beyond it); `null` = unlimited. Each fresh connect
   * reads up to `syncMaxJobs` jobs, so a client reconnecting in a loop would otherwise load Redis for
   * every other user. @defaultValue `{ requests: 60, perMs: 60000 }`
   */
  connectRateLimit?: RateLimitOptions | null;
  /**
   * A stream whose socket does not drain for this long while it sends `job.sync` or replays is cut as
   * a slow client (it recovers by reconnecting with its cursor). @defaultValue 30000
   */
  drainTimeoutMs?: number;
  /**
   * Take each stream's socket off Node's HTTP server once `connected` is out, releasing its request,
   * response and parser (about half of an idle stream's memory; see `detach.ts`). The response then
   * never emits `finish` or `close`: set `false` when request loggers or other middleware need those
   * events for the SSE route. @defaultValue true
   */
  detachStreams?: boolean;
  /**
   * Tokens (`auth: { secret }`) are accepted only for this long after their `iat`, whatever their
   * `exp`; a token without `iat` is refused. A stream ends at the earlier of `exp` and `iat` + this.
   * Raise it if the app issues longer tokens. @defaultValue 86400 (24 hours)
   */
  maxTokenAgeSeconds?: number;
  /** Per-user budget of REST requests on this process (429 `RATE_LIMIT_EXCEEDED` beyond it); `null` = unlimited. @defaultValue `{ requests: 600, perMs: 60000 }` */
  rateLimit?: RateLimitOptions | null;
  /** On a fresh (unrecovered) connect, `job.sync` also covers jobs that finished this recently. @defaultValue 300000 (5 minutes) */
  syncFinishedWithinMs?: number;
  /**
   * On a fresh connect, at most this many of the user's newest jobs are examined for `job.sync` (and
   * up to this many unfinished jobs older than those are synced too); on a recovered one, at most
   * this many of the user's newest unfinished jobs are watched for live queue positions. @defaultValue 500
   */
  syncMaxJobs?: number;
  /**
   * Live queue positions: a queued job a stream shows gets `job.progress` (without `id:`) when its
   * position or computed ETA changes, at most once per this many ms per job (10 to 3,600,000);
   * `null` = no live positions (reads still carry them). @defaultValue 1000
   */
  positionIntervalMs?: number | null;
  /**
   * Seenn's backend API (`POST /jobs`, `/jobs/:id/progress|complete|fail|cancel`, `/eta…`, and reads
   * of any user's jobs) for the app's backend and the official `@seenn/node` SDK: `{ apiKeys }` or
   * `{ authenticate }` (see `write-api.ts`). Omitted: no write routes. Validated when the router is built.
   */
  writeApi?: WriteApiOptions<Req>;
}

/** The defaults of {@link BridgeOptions}. */
export const BRIDGE_DEFAULTS = Object.freeze({
  heartbeatMs: 15_000,
  idleTimeoutMs: null,
  retryMs: 2_000,
  retryJitterMs: 2_000,
  maxBufferedBytes: 1024 * 1024,
  maxStreamsPerUser: 20,
  connectRateLimit: Object.freeze({ requests: 60, perMs: 60_000 }),
  drainTimeoutMs: 30_000,
  detachStreams: true,
  maxTokenAgeSeconds: 24 * 3600,
  rateLimit: Object.freeze({ requests: 600, perMs: 60_000 }),
  syncFinishedWithinMs: 5 * 60_000,
  syncMaxJobs: 500,
  positionIntervalMs: 1_000,
} as const);

/** How the bridge authenticates, resolved. */
export type ResolvedAuth<Req> =
  | { kind: 'secret'; secret: Uint8Array }
  | { kind: 'hook'; authenticate: (req: Req) => AuthResult | null | Promise<AuthResult | null> };

/** {@link BridgeOptions} with every default applied. */
export interface ResolvedBridgeOptions<Req = IncomingMessage> {
  auth: ResolvedAuth<Req>;
  heartbeatMs: number;
  idleTimeoutMs: number | null;
  retryMs: number;
  retryJitterMs: number;
  maxBufferedBytes: number;
  maxStreamsPerUser: number;
  connectRateLimit: RateLimitOptions | null;
  drainTimeoutMs: number;
  detachStreams: boolean;
  maxTokenAgeSeconds: number;
  rateLimit: RateLimitOptions | null;
  syncFinishedWithinMs: number;
  syncMaxJobs: number;
  positionIntervalMs: number | null;
}

const ms = z.number().int().positive();
const secretSchema = z
  .union([z.string(), z.instanceof(Uint8Array)])
  .refine(
    (secret) => (typeof secret === 'string' ? Buffer.byteLength(secret) : secret.byteLength) >= 32,
    'auth.secret must be at least 32 bytes',
  );
/** Validates a {@link RateLimitOptions}. */
export const RateLimitSchema = z.object({ requests: z.number().int().min(1), perMs: ms }).strict();
const OptionsSchema = z
  .object({
    auth: z
      .union([
        z.object({ secret: secretSchema }).strict(),
        z
          .object({
            authenticate: z.custom<(req: unknown) => unknown>(
              (value) => typeof value === 'function',
              'auth.authenticate must be a function',
            ),
          })
          .strict(),
      ])
      .optional(),
    heartbeatMs: ms.min(10).optional(),
    idleTimeoutMs: ms.nullable().optional(),
    retryMs: ms.optional(),
    retryJitterMs: z.number().int().min(0).optional(),
    maxBufferedBytes: z.number().int().min(1024).optional(),
    maxStreamsPerUser: z.number().int().min(1).optional(),
    connectRateLimit: RateLimitSchema.nullable().optional(),
    drainTimeoutMs: ms.optional(),
    detachStreams: z.boolean().optional(),
    maxTokenAgeSeconds: z.number().int().min(1).max(TOKEN_LIMITS.maxTtlSeconds).optional(),
    rateLimit: RateLimitSchema.nullable().optional(),
    syncFinishedWithinMs: z.number().int().min(0).optional(),
    syncMaxJobs: z.number().int().min(1).max(100_000).optional(),
    positionIntervalMs: z.number().int().min(10).max(3_600_000).nullable().optional(),
    // Checked by the write API itself (write-api.ts).
    writeApi: z.unknown().optional(),
  })
  .strict();

/**
 * Validates bridge options and applies defaults. `defaultSecret` is the Seenn `tokenSecret`, used when
 * `auth` is not given; with neither, the bridge cannot authenticate anyone and this throws.
 */
export function resolveBridgeOptions<Req>(
  options: BridgeOptions<Req>,
  defaultSecret: Uint8Array | null,
): ResolvedBridgeOptions<Req> {
  const parsed = parseOrThrow(OptionsSchema, options, 'bridge options');
  let auth: ResolvedAuth<Req>;
  if (options.auth !== undefined && 'authenticate' in options.auth) {
    const hook = options.auth;
    auth = { kind: 'hook', authenticate: (req) => hook.authenticate(req) };
  } else if (options.auth !== undefined) {
    auth = { kind: 'secret', secret: secretBytes(options.auth.secret) };
  } else if (defaultSecret !== null) {
    auth = { kind: 'secret', secret: defaultSecret };
  } else {
    throw new SeennError(
      'CONFIG_INVALID',
      'the bridge needs `auth: { secret }` or `auth: { authenticate }`, or `new Seenn({ tokenSecret })`',
    );
  }
  return {
    auth,
    heartbeatMs: parsed.heartbeatMs ?? BRIDGE_DEFAULTS.heartbeatMs,
    idleTimeoutMs: parsed.idleTimeoutMs === undefined ? BRIDGE_DEFAULTS.idleTimeoutMs : parsed.idleTimeoutMs,
    retryMs: parsed.retryMs ?? BRIDGE_DEFAULTS.retryMs,
    retryJitterMs: parsed.retryJitterMs ?? BRIDGE_DEFAULTS.retryJitterMs,
    maxBufferedBytes: parsed.maxBufferedBytes ?? BRIDGE_DEFAULTS.maxBufferedBytes,
    maxStreamsPerUser: parsed.maxStreamsPerUser ?? BRIDGE_DEFAULTS.maxStreamsPerUser,
    connectRateLimit:
      parsed.connectRateLimit === undefined ? { ...BRIDGE_DEFAULTS.connectRateLimit } : parsed.connectRateLimit,
    drainTimeoutMs: parsed.drainTimeoutMs ?? BRIDGE_DEFAULTS.drainTimeoutMs,
    detachStreams: parsed.detachStreams ?? BRIDGE_DEFAULTS.detachStreams,
    maxTokenAgeSeconds: parsed.maxTokenAgeSeconds ?? BRIDGE_DEFAULTS.maxTokenAgeSeconds,
    rateLimit: parsed.rateLimit === undefined ? { ...BRIDGE_DEFAULTS.rateLimit } : parsed.rateLimit,
    syncFinishedWithinMs: parsed.syncFinishedWithinMs ?? BRIDGE_DEFAULTS.syncFinishedWithinMs,
    syncMaxJobs: parsed.syncMaxJobs ?? BRIDGE_DEFAULTS.syncMaxJobs,
    positionIntervalMs:
      parsed.positionIntervalMs === undefined ? BRIDGE_DEFAULTS.positionIntervalMs : parsed.positionIntervalMs,
  };
}
