/**
 * A user's history for the connect benchmarks: finished jobs written straight through the store (one
 * commit per user, no replay entries), so a connect meets them in the user's job index.
 */
import { createRecord, reduce } from '../../src/model/reducer.js';
import type { JobStore } from '../../src/store/job-store.js';

/** What {@link seedHistory} writes. */
export interface HistoryOptions {
  /** Finished jobs per user. */
  perUser: number;
  /** The queue name their records carry. */
  queueName: string;
  /** How long before now the first of them finished, ms (older than a bridge's `syncFinishedWithinMs`: not synced). */
  finishedAgoMs: number;
}

/** Gives each of `users` `perUser` completed jobs, 1 s apart, 50 users at a time. */
export async function seedHistory(
  store: JobStore,
  appId: string,
  users: readonly string[],
  options: HistoryOptions,
): Promise<void> {
  const startedAt = Date.now() - options.finishedAgoMs;
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < users.length) {
        const userId = users[next++] as string;
        const changes = Array.from({ length: options.perUser }, (_, k) => {
          const createdAtMs = startedAt + k * 1_000;
          const id = `history-${userId}-${k}`;
          const queued = createRecord(
            id,
            appId,
            { userId, jobType: 'bench', title: `Earlier ${k}` },
            { queueName: options.queueName, bullId: id, createdAtMs, maxAttempts: 1, state: 'waiting' },
          );
          const record = reduce(queued, { kind: 'completed', at: createdAtMs + 500, returnvalue: { ok: true } });
          return { expectedVersion: 0, record, index: true };
        });
        const answer = await store.commit(userId, changes);
        if (answer.status !== 'ok') throw new Error(`seeding ${userId}'s history: ${answer.status}`);
      }
    }),
  );
}
