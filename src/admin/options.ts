/**
 * Options of `seenn.admin(...)`: defaults in {@link ADMIN_DEFAULTS}, validated once when the admin
 * route is built (a `CONFIG_INVALID` error on bad input).
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { QueueNameSchema } from '../model/job.js';
import { parseOrThrow } from '../options.js';

/**
 * How the admin route authenticates every request (the JSON view and bull-board alike):
 * - `{ token }`: a shared secret of at least 32 characters, sent as `Authorization: Bearer <token>`
 *   (or, so a browser can open bull-board, as the password of HTTP Basic auth, any user name);
 *   compared in constant time;
 * - `{ authenticate }`: the app's own check (a session, an SSO header…); `true` lets the request
 *   through, anything else answers 401. A hook that throws answers 500.
 */
export type AdminAuth<Req = IncomingMessage> =
  | { token: string }
  | {
      /** Whether this request may use the admin route. */
      authenticate(req: Req): boolean | Promise<boolean>;
    };

/** Options of the admin route. */
export interface AdminOptions<Req = IncomingMessage> {
  /** How requests are authenticated. Required: the admin route is never open. */
  auth: AdminAuth<Req>;
  /**
   * The BullMQ queues the route shows (in `GET /api/queues` and on bull-board). BullMQ keeps no
   * registry of queues, so they are named here.
   */
  queues: string[];
  /**
   * No mutating actions: bull-board runs in read-only mode and every request under `boardPath` other
   * than GET/HEAD answers 403 `FORBIDDEN`. @defaultValue true
   */
  readOnly?: boolean;
  /** Where bull-board is mounted under the route, or `null` for no bull-board. @defaultValue '/queues' */
  boardPath?: string | null;
}

/** The defaults of {@link AdminOptions}. */
export const ADMIN_DEFAULTS = Object.freeze({ readOnly: true, boardPath: '/queues' } as const);

/** How the admin route authenticates, resolved. */
export type ResolvedAdminAuth<Req> =
  { kind: 'token'; token: string } | { kind: 'hook'; authenticate: (req: Req) => boolean | Promise<boolean> };

/** {@link AdminOptions} with every default applied. */
export interface ResolvedAdminOptions<Req = IncomingMessage> {
  auth: ResolvedAdminAuth<Req>;
  queues: readonly string[];
  readOnly: boolean;
  boardPath: string | null;
}

/** Shortest accepted `auth.token`. */
export const ADMIN_TOKEN_MIN_CHARS = 32;

const OptionsSchema = z
  .object({
    auth: z.union(
      [
        z
          .object({
            token: z
              .string()
              .min(ADMIN_TOKEN_MIN_CHARS, `auth.token must be at least ${ADMIN_TOKEN_MIN_CHARS} characters`)
              .regex(/^[\x21-\x7e]+$/, 'auth.token must be printable ASCII without spaces'),
          })
          .strict(),
        z
          .object({
            authenticate: z.custom<(req: unknown) => unknown>(
              (value) => typeof value === 'function',
              'auth.authenticate must be a function',
            ),
          })
          .strict(),
      ],
      { error: 'auth is required, as `{ token }` (at least 32 characters) or `{ authenticate(req) }`' },
    ),
    queues: z.array(QueueNameSchema).min(1, 'name at least one queue'),
    readOnly: z.boolean().optional(),
    boardPath: z
      .string()
      .regex(
        /^(\/[A-Za-z0-9._~-]+)+$/,
        'boardPath must look like `/queues` (a path of URL-safe segments, no trailing slash)',
      )
      .refine(
        (path) => !['/api', '/assets', '/metrics'].some((taken) => path === taken || path.startsWith(`${taken}/`)),
        'boardPath cannot be `/api`, `/assets` or `/metrics` (the JSON view, the page and metrics live there)',
      )
      .nullable()
      .optional(),
  })
  .strict();

/** Validates admin options and applies defaults (throws `CONFIG_INVALID`). */
export function resolveAdminOptions<Req>(options: AdminOptions<Req>): ResolvedAdminOptions<Req> {
  // The token never reaches an error message: zod issues carry paths and messages, not values.
  const parsed = parseOrThrow(OptionsSchema, options, 'admin options');
  const { auth } = options;
  return {
    auth:
      'authenticate' in auth
        ? { kind: 'hook', authenticate: (req) => auth.authenticate(req) }
        : { kind: 'token', token: auth.token },
    queues: Object.freeze([...new Set(parsed.queues)]),
    readOnly: parsed.readOnly ?? ADMIN_DEFAULTS.readOnly,
    boardPath: parsed.boardPath === undefined ? ADMIN_DEFAULTS.boardPath : parsed.boardPath,
  };
}
