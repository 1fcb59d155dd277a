/** An in-process lock per key: tasks under one key run one at a time, in the order they came. */

/** Runs async tasks one at a time per key (a promise chain per key, dropped when idle). */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `task` after every task queued before it under `key`. */
  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => done);
    this.tails.set(key, tail);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
