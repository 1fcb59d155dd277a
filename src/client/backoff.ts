/**
 * Reconnect delays: exponential backoff with jitter, so that many clients dropped at once (a bridge
 * restart) do not all come back in the same millisecond.
 */
import type { JitterMode } from './options.js';

/** What {@link nextReconnectDelayMs} needs. */
export interface BackoffInput {
  mode: JitterMode;
  /** 0 for the first reconnect after a success, then 1, 2, … */
  attempt: number;
  /** The delay chosen last time (used by `decorrelated`); `baseMs` when there was none. */
  previousMs: number;
  baseMs: number;
  maxMs: number;
  /** Uniform random numbers in [0, 1). */
  random: () => number;
}

/**
 * The delay before the next reconnect.
 * - `full`: uniform in [0, min(maxMs, baseMs·2^attempt)).
 * - `decorrelated`: uniform in [baseMs, 3·previousMs), capped at maxMs.
 */
export function nextReconnectDelayMs(input: BackoffInput): number {
  const { mode, attempt, previousMs, baseMs, maxMs, random } = input;
  const r = Math.min(Math.max(random(), 0), 1);
  if (mode === 'full') {
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 52));
    return Math.floor(r * ceiling);
  }
  const upper = Math.max(baseMs, previousMs * 3);
  return Math.min(maxMs, Math.floor(baseMs + r * (upper - baseMs)));
}
