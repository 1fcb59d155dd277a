/**
 * A coalescing throttle for one job's progress writes. A value that can go out now (no write in
 * flight, the throttle window over) is written at once, and its caller waits for that one write. A
 * value that arrives while a write is running or inside the window is held instead, replacing any
 * held value, and its caller goes on at once: the held value is written when the window ends, or by
 * `flush`, so the last value is never dropped and a worker never stalls for a window.
 */

/** Writes one value. */
export type WriteSink<T> = (value: T) => Promise<void>;

/** Coalesces writes of one value stream to at most one per `throttleMs`. */
export class CoalescingWriter<T> {
  private held: { value: T } | undefined;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  /** How many `flush` calls are running: while one is, it (not the timer) starts the writes. */
  private flushing = 0;

  /**
   * @param sink - performs one write
   * @param throttleMs - the shortest time between the starts of two writes (0 = no throttle)
   * @param onDeferredError - told when the write of a held value fails (its caller has gone on; the
   *   value stays held for the next write or flush)
   */
  constructor(
    private readonly sink: WriteSink<T>,
    private readonly throttleMs: number,
    private readonly onDeferredError: (error: unknown) => void = () => undefined,
  ) {}

  /**
   * Writes `value` now when it can, resolving when that write has finished (rejecting when it
   * failed); otherwise holds it for the end of the window and resolves at once.
   */
  write(value: T): Promise<void> {
    this.held = { value };
    if (this.flushing > 0 || this.timer !== undefined || this.inFlight !== undefined) return Promise.resolve();
    if (Date.now() - this.lastWriteAt >= this.throttleMs) return this.writeHeld();
    this.arm();
    return Promise.resolve();
  }

  /**
   * Writes the held value now, after the write in flight, ignoring the window. With `last`, that
   * value replaces the held one (and is written even when nothing was held). Resolves when
   * everything is written; rejects with the error of a write that failed (its value stays held).
   */
  async flush(last?: { value: T }): Promise<void> {
    if (last !== undefined) this.held = { value: last.value };
    this.flushing += 1;
    try {
      for (;;) {
        this.clearTimer();
        if (this.inFlight !== undefined) {
          await this.inFlight.catch(() => undefined);
          continue;
        }
        if (this.held === undefined) return;
        // A failed write keeps its value held (for a later flush) and ends this one with its error.
        await this.writeHeld();
      }
    } finally {
      this.flushing -= 1;
    }
  }

  /** Arms the timer that writes the held value when the window ends. */
  private arm(): void {
    const waitMs = Math.max(0, this.lastWriteAt + this.throttleMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.writeHeld().catch(this.onDeferredError);
    }, waitMs);
  }

  /** Writes the held value; when another value was held meanwhile, arms the window for it. */
  private async writeHeld(): Promise<void> {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    this.lastWriteAt = Date.now();
    const running = this.sink(held.value);
    this.inFlight = running;
    try {
      await running;
    } catch (error) {
      // Never drop the last value: unless a newer one arrived, hold this one again for the next flush.
      this.held ??= held;
      throw error;
    } finally {
      this.inFlight = undefined;
      if (this.held !== undefined && this.held !== held && this.flushing === 0 && this.timer === undefined) this.arm();
    }
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
