/**
 * A small typed event emitter that works in browsers and Node alike. A listener that throws does not
 * stop the others: the error goes to the `onListenerError` callback given at construction.
 */

/** Maps each event name to the arguments its listeners receive. */
export type EventMap = { [event: string]: unknown[] };

/** A listener of event `E`. */
export type Listener<M extends EventMap, E extends keyof M> = (...args: M[E]) => void;

/** Typed `on` / `off` / `emit`. */
export class TypedEmitter<M extends EventMap> {
  // Listeners of different events have different signatures; `emit` restores the type per event.
  private readonly listeners = new Map<keyof M, Set<unknown>>();

  /** @param onListenerError - told about errors thrown by listeners */
  constructor(private readonly onListenerError: (error: unknown, event: keyof M) => void) {}

  /** Adds a listener; returns a function that removes it. */
  on<E extends keyof M>(event: E, listener: Listener<M, E>): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Removes a listener added with {@link on}. */
  off<E extends keyof M>(event: E, listener: Listener<M, E>): void {
    this.listeners.get(event)?.delete(listener);
  }

  /** How many listeners `event` has. */
  listenerCount(event: keyof M): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** Calls every listener of `event` with `args`. */
  protected emit<E extends keyof M>(event: E, ...args: M[E]): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<M, E>)(...args);
      } catch (error) {
        this.onListenerError(error, event);
      }
    }
  }

  /** Removes every listener. */
  protected removeAllListeners(): void {
    this.listeners.clear();
  }
}
