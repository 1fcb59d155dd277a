/**
 * A per-key fixed-window request counter, held in this process's memory. With several bridge
 * processes each counts on its own, so a key may get up to N × `requests` per window across N processes.
 */
import { SeennError } from '../errors.js';
import type { RateLimitOptions } from './options.js';

/** The outcome of one {@link RateLimiter.take}. */
export interface RateDecision {
  allowed: boolean;
  /** The budget per window. */
  limit: number;
  /** Requests left in the current window after this one. */
  remaining: number;
  /** Whole seconds until the window resets (for `Retry-After`). */
  retryAfterSeconds: number;
}

/** Counts requests per key in fixed windows of `perMs`. */
export class RateLimiter {
  private readonly windows = new Map<string, { startedAtMs: number; count: number }>();
  private sweptAtMs = Date.now();

  /** @param options - `requests` per `perMs` window */
  constructor(private readonly options: RateLimitOptions) {}

  /** Counts one request of `key` at `nowMs` and says whether it is within budget. */
  take(key: string, nowMs = Date.now()): RateDecision {
    // Forget keys whose window has passed (at most once per window), so memory follows active keys only.
    if (nowMs - this.sweptAtMs >= this.options.perMs) this.sweep(nowMs);
    let window = this.windows.get(key);
    if (window === undefined || nowMs - window.startedAtMs >= this.options.perMs) {
      window = { startedAtMs: nowMs, count: 0 };
      this.windows.set(key, window);
    }
    const allowed = window.count < this.options.requests;
    if (allowed) window.count += 1;
    return {
      allowed,
      limit: this.options.requests,
      remaining: this.options.requests - window.count,
      retryAfterSeconds: Math.max(1, Math.ceil((window.startedAtMs + this.options.perMs - nowMs) / 1000)),
    };
  }

  /** Forgets every window. */
  close(): void {
    this.windows.clear();
  }

  private sweep(nowMs: number): void {
    this.sweptAtMs = nowMs;
    for (const [key, window] of this.windows)
      if (nowMs - window.startedAtMs >= this.options.perMs) this.windows.delete(key);
  }
}

/** A request over its budget: `RATE_LIMIT_EXCEEDED` (429) with the headers to answer it with. */
export class RateLimitExceeded extends SeennError {
  /**
   * @param retryAfterSeconds - when the budget has room again
   * @param headers - `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `Retry-After`
   */
  constructor(
    retryAfterSeconds: number,
    readonly headers: Record<string, string | number>,
  ) {
    super('RATE_LIMIT_EXCEEDED', 'too many requests', { details: { retryAfterSeconds } });
  }
}

/**
 * Counts one request of `key` against `limiter`: the rate-limit headers to answer with
 * (`X-RateLimit-Limit`, `X-RateLimit-Remaining`), or a thrown {@link RateLimitExceeded} (with `Retry-After`).
 */
export function spendBudget(limiter: RateLimiter, key: string): Record<string, string | number> {
  const decision = limiter.take(key);
  const headers: Record<string, string | number> = {
    'X-RateLimit-Limit': decision.limit,
    'X-RateLimit-Remaining': decision.remaining,
  };
  if (!decision.allowed) {
    headers['Retry-After'] = decision.retryAfterSeconds;
    throw new RateLimitExceeded(decision.retryAfterSeconds, headers);
  }
  return headers;
}
