/**
 * Waiting for conditions in tests: poll or listen until something holds, with a timeout that fails
 * the test with a clear message. Never a bare sleep standing in for a condition.
 */
import type { EventEmitter } from 'node:events';

/**
 * Resolves with the first truthy value `probe` returns, polling every `intervalMs`; rejects after
 * `timeoutMs` with `what` in the message (and the last error `probe` threw, as the cause).
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const { timeoutMs = 10_000, intervalMs = 20, what = 'condition' } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Resolves with the arguments of the next `event` on `emitter` for which `filter` holds. */
export function nextEvent<A extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  options: { timeoutMs?: number; filter?: (...args: A) => boolean } = {},
): Promise<A> {
  const { timeoutMs = 10_000, filter = () => true } = options;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${event}'`));
    }, timeoutMs);
    const listener = (...args: unknown[]): void => {
      if (!filter(...(args as A))) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args as A);
    };
    emitter.on(event, listener);
  });
}
