import { describe, expect, it } from 'vitest';
import { CoalescingWriter } from '../../src/worker/coalescing-writer.js';
import { waitFor } from '../helpers/wait.js';

/** A sink that records every write, and can be held open or made to fail. */
function recordingSink() {
  const written: number[] = [];
  let failNext = false;
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  return {
    written,
    failOnce(): void {
      failNext = true;
    },
    hold(): void {
      gate = new Promise((resolve) => (open = resolve));
    },
    release(): void {
      open?.();
      gate = undefined;
    },
    async sink(value: number): Promise<void> {
      if (gate !== undefined) await gate;
      if (failNext) {
        failNext = false;
        throw new Error(`write of ${value} failed`);
      }
      written.push(value);
    },
  };
}

describe('CoalescingWriter', () => {
  it('writes the first value at once, coalesces a burst and writes its last value when the window ends', async () => {
    const sink = recordingSink();
    const writer = new CoalescingWriter((value: number) => sink.sink(value), 200);
    const started = Date.now();
    const first = writer.write(1);
    await first;
    expect(sink.written).toEqual([1]);
    // Calls inside the window return at once: a worker never stalls for the throttle.
    await Promise.all(Array.from({ length: 49 }, (_, i) => writer.write(i + 2)));
    expect(sink.written).toEqual([1]);
    await waitFor(() => sink.written.length === 2, { timeoutMs: 5_000, what: 'the coalesced write' });
    expect(sink.written).toEqual([1, 50]);
    // The burst's value went out no earlier than the end of the window the first write opened.
    expect(Date.now() - started).toBeGreaterThanOrEqual(195);
  });

  it('with no throttle writes every value that arrives while idle', async () => {
    const sink = recordingSink();
    const writer = new CoalescingWriter((value: number) => sink.sink(value), 0);
    for (let i = 1; i <= 5; i += 1) await writer.write(i);
    expect(sink.written).toEqual([1, 2, 3, 4, 5]);
  });

  it('coalesces values that arrive while a write is in flight, even with no throttle', async () => {
    const sink = recordingSink();
    const writer = new CoalescingWriter((value: number) => sink.sink(value), 0);
    sink.hold();
    const first = writer.write(1);
    const later = [writer.write(2), writer.write(3)];
    await Promise.all(later);
    expect(sink.written).toEqual([]);
    sink.release();
    await first;
    await waitFor(() => sink.written.length === 2, { timeoutMs: 5_000, what: 'the held value' });
    expect(sink.written).toEqual([1, 3]);
  });

  it('flush writes the pending value at once, after the write in flight', async () => {
    const sink = recordingSink();
    const writer = new CoalescingWriter((value: number) => sink.sink(value), 60_000);
    await writer.write(1);
    const pending = writer.write(2);
    const started = Date.now();
    await writer.flush();
    expect(Date.now() - started).toBeLessThan(5_000);
    await pending;
    expect(sink.written).toEqual([1, 2]);
  });

  it('flush with a last value replaces the pending one and resolves its callers', async () => {
    const sink = recordingSink();
    const writer = new CoalescingWriter((value: number) => sink.sink(value), 60_000);
    await writer.write(1);
    const pending = writer.write(2);
    await writer.flush({ value: 99 });
    await pending;
    expect(sink.written).toEqual([1, 99]);
    await writer.flush({ value: 100 });
    expect(sink.written).toEqual([1, 99, 100]);
  });

  it('rejects the callers of a failed write, keeps going, and flush reports the failure of its last write', async () => {
    const sink = recordingSink();
    const writer = new CoalescingWriter((value: number) => sink.sink(value), 0);
    sink.failOnce();
    await expect(writer.write(1)).rejects.toThrow('write of 1 failed');
    await writer.write(2);
    expect(sink.written).toEqual([2]);
    sink.failOnce();
    await expect(writer.flush({ value: 3 })).rejects.toThrow('write of 3 failed');
    await writer.flush({ value: 4 });
    expect(sink.written).toEqual([2, 4]);
  });

  it('a held value whose write failed is reported, kept, and written by the next flush', async () => {
    const sink = recordingSink();
    const failures: unknown[] = [];
    const writer = new CoalescingWriter(
      (value: number) => sink.sink(value),
      30,
      (error) => failures.push(error),
    );
    await writer.write(1);
    sink.failOnce();
    await writer.write(2);
    await waitFor(() => failures.length === 1, { timeoutMs: 5_000, what: 'the deferred failure' });
    expect(sink.written).toEqual([1]);
    await writer.flush();
    expect(sink.written).toEqual([1, 2]);
  });

  it('a value written inside the window goes out on its own when the window ends', async () => {
    const sink = recordingSink();
    const writer = new CoalescingWriter((value: number) => sink.sink(value), 50);
    await writer.write(1);
    void writer.write(2);
    expect(sink.written).toEqual([1]);
    await waitFor(() => sink.written.length === 2, { timeoutMs: 5_000, what: 'the coalesced write' });
    expect(sink.written).toEqual([1, 2]);
  });
});
