/** Running async tasks with a bound on how many are in flight (the publisher's reads, re-syncs and cache warming). */

/** Runs async tasks with at most `limit` in flight. */
export async function runLimited(tasks: readonly (() => Promise<unknown>)[], limit: number): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) {
      const task = tasks[next] as () => Promise<unknown>;
      next += 1;
      await task();
    }
  });
  await Promise.all(lanes);
}
