/**
 * A coalescing throttle for one job's progress writes: the first value is written at once; values
 * that arrive while a write is running or inside the throttle window replace each other, and the
 * last one is written when the window ends. Nothing is dropped: each `write` resolves once a write
 * that includes its value (its own or a later one) has finished, and `flush` writes what is pending
 * without waiting for the window.
 */

/** Writes one value; a rejection is handed to every caller whose value that write carried. */
export type WriteSink<T> = (value: T) => Promise<void>;

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

/** Coalesces writes of one value stream to at most one per `throttleMs`. */
export class CoalescingWriter<T> {
  private pending: { value: T; waiters: Waiter[] } | undefined;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  /** How many `flush` calls are running: while one is, it (not the timer) starts the writes. */
  private flushing = 0;

  /**
   * @param sink - performs one write
   * @param throttleMs - the shortest time between the starts of two writes (0 = no throttle)
   */
  constructor(
    private readonly sink: WriteSink<T>,
    private readonly throttleMs: number,
  ) {}

  /** Queues `value`; resolves when a write that includes it has finished, rejects when that write failed. */
  write(value: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.pending === undefined) this.pending = { value, waiters: [] };
      else this.pending.value = value;
      this.pending.waiters.push({ resolve, reject });
      this.schedule();
    });
  }

  /**
   * Writes whatever is pending now, after the write in flight, ignoring the window. With `last`, that
   * value replaces the pending one (and is written even when nothing was pending). Resolves when
   * everything is written; rejects with the error of the final write when it failed.
   */
  async flush(last?: { value: T }): Promise<void> {
    if (last !== undefined) {
      if (this.pending === undefined) this.pending = { value: last.value, waiters: [] };
      else this.pending.value = last.value;
    }
    this.flushing += 1;
    try {
      let failure: { error: unknown } | undefined;
      for (;;) {
        this.clearTimer();
        if (this.inFlight !== undefined) {
          await this.inFlight.catch(() => undefined);
          continue;
        }
        if (this.pending === undefined) break;
        failure = await this.writeNow();
      }
      if (failure !== undefined) throw failure.error;
    } finally {
      this.flushing -= 1;
    }
  }

  /** Starts the pending write now, or arms the timer for the end of the window. */
  private schedule(): void {
    if (this.flushing > 0 || this.timer !== undefined || this.inFlight !== undefined) return;
    const waitMs = this.lastWriteAt + this.throttleMs - Date.now();
    if (waitMs <= 0) {
      void this.writeNow();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writeNow();
    }, waitMs);
  }

  /** Writes the pending value; settles its waiters; never rejects (the failure is returned). */
  private async writeNow(): Promise<{ error: unknown } | undefined> {
    const batch = this.pending;
    if (batch === undefined) return undefined;
    this.pending = undefined;
    this.lastWriteAt = Date.now();
    const running = (async () => this.sink(batch.value))();
    this.inFlight = running;
    let failure: { error: unknown } | undefined;
    try {
      await running;
      for (const waiter of batch.waiters) waiter.resolve();
    } catch (error) {
      failure = { error };
      for (const waiter of batch.waiters) waiter.reject(error);
    } finally {
      this.inFlight = undefined;
      if (this.pending !== undefined) this.schedule();
    }
    return failure;
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
