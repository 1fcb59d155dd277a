/**
 * Holds the bridge token: a fixed string, or one obtained from the app's provider and obtained again
 * after a `401`. Concurrent callers share one provider call.
 */
import { SeennClientError } from './errors.js';
import type { TokenProvider, TokenRequestReason } from './options.js';

/** The client's source of `Authorization` tokens. */
export class TokenSource {
  private current: string | undefined;
  private pending: Promise<string> | undefined;
  private nextReason: TokenRequestReason = 'initial';

  /** @param token - a fixed token, a provider, or `undefined` (requests carry no `Authorization`) */
  constructor(private readonly token: string | TokenProvider | undefined) {
    if (typeof token === 'string') this.current = token;
  }

  /** Whether a `401` can be fixed by asking again (only when there is a provider). */
  get canRefresh(): boolean {
    return typeof this.token === 'function';
  }

  /** The token to send now, or `undefined` when the client has none. */
  async get(): Promise<string | undefined> {
    if (typeof this.token !== 'function') return this.current;
    if (this.current !== undefined) return this.current;
    this.pending ??= this.ask(this.token);
    return this.pending;
  }

  /** Forgets `rejected` after the bridge answered `401` to it, so the next {@link get} asks the provider again. */
  invalidate(rejected: string | undefined): void {
    if (typeof this.token !== 'function' || this.current !== rejected) return;
    this.current = undefined;
    this.nextReason = 'unauthorized';
  }

  private async ask(provider: TokenProvider): Promise<string> {
    try {
      const value = await provider({ reason: this.nextReason });
      if (typeof value !== 'string' || value.length === 0) throw new Error('the token provider returned no token');
      this.current = value;
      return value;
    } catch (error) {
      throw new SeennClientError(
        'TOKEN_PROVIDER_FAILED',
        `Could not get a token: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    } finally {
      this.pending = undefined;
    }
  }
}
