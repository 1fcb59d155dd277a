/**
 * Source events: the BullMQ events-stream entries that change what a user sees, normalised.
 * The publisher turns raw stream fields into these; the reducer consumes them.
 */

/** A BullMQ event that matters to a job's Seenn state. `at` is the event time in epoch ms. */
export type SourceEvent =
  /** `waiting` (also after a retry, a stall or a rate-limit put-back when `prev` is `active`). */
  | { kind: 'waiting'; at: number; prev?: string }
  /**
   * `delayed`; `runAt` is absolute epoch ms. After a run it is either a backoff before a retry or a
   * step job's own `moveToDelayed`: `attemptsMade` (BullMQ's count of ended attempts, read from the
   * job after the event) tells them apart, with `attemptsStarted` (read at the same instant: whether
   * later attempts began since, which `attemptsMade` may count too) and `failedBefore` (the job has a
   * `failedReason`) for when the read came too late to be sure.
   */
  | {
      kind: 'delayed';
      at: number;
      runAt: number;
      attemptsMade?: number;
      attemptsStarted?: number;
      failedBefore?: boolean;
    }
  /** `waiting-children`: a flow parent waiting for its children. */
  | { kind: 'waiting-children'; at: number }
  /** `active`: an attempt starts. */
  | { kind: 'active'; at: number }
  /** `progress`: `data` is the parsed progress value. */
  | { kind: 'progress'; at: number; data: unknown }
  /** `completed`: `returnvalue` is the parsed return value. */
  | { kind: 'completed'; at: number; returnvalue: unknown }
  /** `failed`: BullMQ's final failure (attempts exhausted or unrecoverable). */
  | { kind: 'failed'; at: number; reason: string }
  /** `removed`: the job left BullMQ before finishing. */
  | { kind: 'removed'; at: number };

/** The kinds of {@link SourceEvent}. */
export type SourceEventKind = SourceEvent['kind'];
