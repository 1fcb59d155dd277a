/**
 * Who may use the admin route: the shared token (compared in constant time) or the app's hook.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { AdminRequest } from './http.js';
import type { ResolvedAdminAuth } from './options.js';

/** The realm named in `WWW-Authenticate` challenges. */
export const ADMIN_REALM = 'seenn-admin';

/** Checks requests against the resolved `auth` option. */
export class AdminAuthenticator<Req> {
  /** SHA-256 of the token: comparing digests takes the same time whatever the length presented. */
  private readonly tokenDigest: Buffer | null;

  constructor(private readonly auth: ResolvedAdminAuth<Req>) {
    this.tokenDigest = auth.kind === 'token' ? digest(auth.token) : null;
  }

  /** Whether the request may pass. A hook that throws makes this throw. */
  async check(req: AdminRequest<Req>): Promise<boolean> {
    if (this.auth.kind === 'hook') return (await this.auth.authenticate(req.raw)) === true;
    const presented = presentedToken(req.headers);
    if (presented === null || this.tokenDigest === null) return false;
    return timingSafeEqual(digest(presented), this.tokenDigest);
  }

  /** The challenges a 401 carries: Basic lets a browser prompt for the token, so bull-board opens in one. */
  challenges(): readonly string[] | null {
    return this.auth.kind === 'token'
      ? [`Basic realm="${ADMIN_REALM}", charset="UTF-8"`, `Bearer realm="${ADMIN_REALM}"`]
      : null;
  }
}

/**
 * The token a request presents: from `Authorization: Bearer <token>`, or the password of
 * `Authorization: Basic <base64(user:password)>` (any user name); `null` without either.
 */
export function presentedToken(headers: IncomingHttpHeaders): string | null {
  const header = headers.authorization;
  if (header === undefined) return null;
  const match = /^(Bearer|Basic)[ ]+(\S+)\s*$/i.exec(header);
  if (match === null) return null;
  const [, scheme = '', value = ''] = match;
  if (scheme.toLowerCase() === 'bearer') return value;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : decoded.slice(colon + 1);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
