/**
 * Options of `new Seenn(...)`, their defaults in one frozen object, and their validation. Options of
 * the publisher, bridge and admin route live beside those modules and follow the same rules: units in
 * names, `@defaultValue` on every field, validated once at construction.
 */
import { z } from 'zod';
import { ValidationError } from './errors.js';
import type { Logger } from './logger.js';
import { resolveMetricsOptions, type MetricsOptions, type ResolvedMetrics } from './metrics/options.js';
import {
  OUTPUT_DEFAULTS,
  OutputOptionsSchema,
  type OutputOptions,
  type ResolvedOutputOptions,
} from './model/output.js';
import type { PositionOptions } from './position/options.js';
import { checkConnection, type ConnectionInput } from './store/connection.js';
import { RETENTION_DEFAULTS, type ResolvedRetention, type RetentionOptions } from './store/job-store.js';

/** Options of {@link Seenn}. */
export interface SeennOptions {
  /**
   * The Redis BullMQ uses: an ioredis `Redis` or `Cluster` instance (shared, never closed by us; it
   * should have `maxRetriesPerRequest: null`), ioredis `RedisOptions` for one server, or
   * `{ cluster: { nodes, options } }` for a Redis Cluster (we open and close those). Anything else
   * throws `CONFIG_INVALID`: there is no default server.
   */
  connection: ConnectionInput;
  /** BullMQ's key prefix; our keys derive from it. @defaultValue 'bull' */
  prefix?: string;
  /** The app id written on every job and part of every key. @defaultValue 'default' */
  appId?: string;
  /** Where logs go. @defaultValue silent */
  logger?: Logger;
  /** How long jobs and replay streams are kept. */
  retention?: RetentionOptions;
  /**
   * Secret for the tokens `seenn.tokens.issue` signs and the bridge checks (HS256; at least 32 bytes).
   * Needed only by `tokens` and by a bridge whose `auth` has no secret or hook of its own.
   */
  tokenSecret?: string | Uint8Array;
  /**
   * Prometheus metrics (seenn_*, see `seenn.metricsHandler()`): `{ registry }` registers them in the
   * app's prom-client registry, `false` turns them off. @defaultValue the package's own registry
   */
  metrics?: MetricsOptions;
  /** Bounds and batching of job output streams (`appendOutput`). */
  output?: OutputOptions;
  /**
   * Queue positions and ETAs (`scanLimit`, `rankIndex`, the ETA model's samples and windows), for
   * `seenn.jobs` reads and every bridge's live positions; validated when the instance is built.
   * @defaultValue see `POSITION_DEFAULTS`
   */
  positions?: PositionOptions;
}

/** {@link SeennOptions} with every default applied. */
export interface ResolvedSeennOptions {
  prefix: string;
  appId: string;
  retention: ResolvedRetention;
  tokenSecret: Uint8Array | null;
  /** The metrics registry, or `null` when metrics are off. */
  metrics: ResolvedMetrics;
  /** Output stream bounds and batching. */
  output: ResolvedOutputOptions;
  /** Position and ETA options as given (their defaults are applied where they are used). */
  positions: PositionOptions;
}

/** The defaults of {@link SeennOptions}. */
export const SEENN_DEFAULTS = Object.freeze({ prefix: 'bull', appId: 'default' });

const positiveSeconds = z.number().int().positive();
const OptionsSchema = z.object({
  prefix: z.string().min(1).max(100).optional(),
  appId: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9_.-]+$/, 'appId may hold letters, digits, _ . and - only')
    .optional(),
  retention: z
    .object({
      finishedJobSeconds: positiveSeconds.optional(),
      activeJobSeconds: positiveSeconds.optional(),
      replayMaxEntries: z.number().int().min(10).optional(),
      replaySeconds: positiveSeconds.optional(),
    })
    .strict()
    .optional(),
  tokenSecret: z
    .union([z.string(), z.instanceof(Uint8Array)])
    .refine(
      (secret) => (typeof secret === 'string' ? Buffer.byteLength(secret) : secret.byteLength) >= 32,
      'tokenSecret must be at least 32 bytes',
    )
    .optional(),
  output: OutputOptionsSchema.optional(),
});

/** Validates {@link SeennOptions} and applies defaults; throws a `CONFIG_INVALID` error on bad input. */
export function resolveSeennOptions(options: SeennOptions): ResolvedSeennOptions {
  const { connection, logger: _logger, metrics, positions = {}, ...rest } = options;
  checkConnection(connection);
  const parsed = parseOrThrow(OptionsSchema, rest, 'Seenn options');
  const secret = parsed.tokenSecret;
  return {
    prefix: parsed.prefix ?? SEENN_DEFAULTS.prefix,
    appId: parsed.appId ?? SEENN_DEFAULTS.appId,
    retention: {
      finishedJobSeconds: parsed.retention?.finishedJobSeconds ?? RETENTION_DEFAULTS.finishedJobSeconds,
      activeJobSeconds: parsed.retention?.activeJobSeconds ?? RETENTION_DEFAULTS.activeJobSeconds,
      replayMaxEntries: parsed.retention?.replayMaxEntries ?? RETENTION_DEFAULTS.replayMaxEntries,
      replaySeconds: parsed.retention?.replaySeconds ?? RETENTION_DEFAULTS.replaySeconds,
    },
    tokenSecret: secret === undefined ? null : typeof secret === 'string' ? new TextEncoder().encode(secret) : secret,
    metrics: resolveMetricsOptions(metrics),
    positions,
    output: {
      maxOutputBytes: parsed.output?.maxOutputBytes ?? OUTPUT_DEFAULTS.maxOutputBytes,
      maxOutputChunks: parsed.output?.maxOutputChunks ?? OUTPUT_DEFAULTS.maxOutputChunks,
      outputFlushMs: parsed.output?.outputFlushMs ?? OUTPUT_DEFAULTS.outputFlushMs,
    },
  };
}

/**
 * @internal Parses `value` with `schema`, or throws a {@link ValidationError} whose `details.issues`
 * lists each problem as `{ path, message }`. `what` names the input in the message.
 */
export function parseOrThrow<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: string,
  code: 'VALIDATION_ERROR' | 'CONFIG_INVALID' = 'CONFIG_INVALID',
): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
  const tooLarge = result.error.issues.some(
    (issue) =>
      issue.code === 'custom' && (issue as { params?: { code?: string } }).params?.code === 'PAYLOAD_TOO_LARGE',
  );
  const first = issues[0];
  const message = `Invalid ${what}: ${first ? `${first.path ? `\`${first.path}\` ` : ''}${first.message}` : 'unknown problem'}`;
  throw new ValidationError(tooLarge && code === 'VALIDATION_ERROR' ? 'PAYLOAD_TOO_LARGE' : code, message, {
    details: { issues },
  });
}
