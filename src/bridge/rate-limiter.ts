/**
 * A per-key fixed-window request counter, held in this process's memory. With several bridge
 * processes each counts on its own, so a key may get up to N × `requests` per window across N processes.
 */
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
  private readonly sweeper: NodeJS.Timeout;

  /** @param options - `requests` per `perMs` window */
  constructor(private readonly options: RateLimitOptions) {
    // Forget keys whose window has passed, so memory follows active users only.
    this.sweeper = setInterval(() => this.sweep(Date.now()), options.perMs);
    this.sweeper.unref();
  }

  /** Counts one request of `key` at `nowMs` and says whether it is within budget. */
  take(key: string, nowMs = Date.now()): RateDecision {
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

  /** Stops the sweeper and forgets every window. */
  close(): void {
    clearInterval(this.sweeper);
    this.windows.clear();
  }

  private sweep(nowMs: number): void {
    for (const [key, window] of this.windows) if (nowMs - window.startedAtMs >= this.options.perMs) this.windows.delete(key);
  }
}
