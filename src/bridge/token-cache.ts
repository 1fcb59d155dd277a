/**
 * Verified end-user tokens, remembered until they expire (issue 15: the token check was about
 * a third of a connect's CPU with `jose`). A token that passed the check once gives the same principal until
 * its `expiresAtMs` (the earlier of `exp` and `iat + maxTokenAgeSeconds`), so a reconnect or a REST
 * poll with the same token skips the check. Only successes are kept; entries are keyed by the
 * token's SHA-256 (the token itself is not kept); at most `maxEntries`, the oldest dropped first.
 */
import { createHash } from 'node:crypto';
import type { Principal } from '../auth/tokens.js';

/** Tokens remembered per bridge process, by default. */
export const TOKEN_CACHE_MAX_ENTRIES = 10_000;

/** A bounded map of verified tokens to their principals. */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, Principal & { readonly expiresAtMs: number }>();

  /**
   * @param maxEntries - the most tokens kept (0 keeps none)
   * @param nowMs - the clock (tests pass their own)
   */
  constructor(
    private readonly maxEntries: number = TOKEN_CACHE_MAX_ENTRIES,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** How many tokens are kept now (expired ones included until they are looked up or pushed out). */
  get size(): number {
    return this.entries.size;
  }

  /** The principal of `token` if it was verified and has not expired since, else `null`. */
  get(token: string): Principal | null {
    const key = keyOf(token);
    const principal = this.entries.get(key);
    if (principal === undefined) return null;
    if (this.nowMs() >= principal.expiresAtMs) {
      this.entries.delete(key);
      return null;
    }
    return principal;
  }

  /** Remembers that `token` verified as `principal` (not kept without an expiry, or once expired). */
  set(token: string, principal: Principal): void {
    const { expiresAtMs } = principal;
    if (this.maxEntries <= 0 || expiresAtMs === undefined || this.nowMs() >= expiresAtMs) return;
    const key = keyOf(token);
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(key, { ...principal, expiresAtMs });
  }
}

function keyOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
