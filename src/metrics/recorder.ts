/**
 * The narrow interface the other modules record through. Each call is one line at its call site and
 * costs a few plain-number updates; nothing here touches Redis or prom-client on the hot path (the
 * Prometheus side reads the tallies when scraped). With metrics off the context holds
 * {@link NOOP_METRICS}, whose methods do nothing.
 */

/** How far a publisher is behind its queue's BullMQ events stream, read when metrics are scraped. */
export interface LagReading {
  /** Newest event time minus the checkpoint's time, in seconds. */
  seconds: number;
  /** Events after the checkpoint (a lower bound when many are waiting). */
  entries: number;
}

/** What the modules of one Seenn instance record. */
export interface MetricsRecorder {
  /** Whether anything is recorded (`false` for {@link NOOP_METRICS}). */
  readonly enabled: boolean;
  /** The publisher applied and checkpointed `count` entries of `queue`'s BullMQ events stream (one batch). */
  publisherEvents(queue: string, event: string, count: number): void;
  /** The publisher re-synced `queue` (BullMQ trimmed events it had not read). */
  publisherResync(queue: string): void;
  /** The publisher set a job of `queue` aside: its events kept failing to apply. */
  publisherParked(queue: string): void;
  /** Something failed in the publisher's loop of `queue` (it carries on). */
  publisherError(queue: string): void;
  /** Runs `work` (one store commit) and records how long it took. */
  timeCommit<T>(work: () => Promise<T>): Promise<T>;
  /** Runs `work` (one queue-position lookup) and records how long it took. */
  timePositionLookup<T>(work: () => Promise<T>): Promise<T>;
  /** The bridge wrote one SSE event named `event` to a stream. */
  eventSent(event: string): void;
  /** A stream opened with a cursor (a reconnect); `recovered` when the replay covered it. */
  reconnect(recovered: boolean): void;
  /** A stream ended; `reason` is the bridge's close reason (`client`, `slow-client`, `expired`, …). */
  disconnect(reason: string): void;
  /** The bridge refused a request with `status` (401 or 403; other statuses are ignored). */
  authFailure(status: number): void;
  /** Counts `count()` into the open-streams gauge at every scrape, until the returned function is called. */
  watchStreams(count: () => number): () => void;
  /** Reads `queue`'s publisher lag with `read()` at every scrape, until the returned function is called. */
  watchPublisherLag(queue: string, read: () => Promise<LagReading>): () => void;
  /** Counts `held()` (leases of `queue` this publisher holds) into the leases gauge at every scrape, until the returned function is called. */
  watchPublisherLeases(queue: string, held: () => number): () => void;
}

const nothing = (): void => undefined;

/** The recorder of a Seenn built with `metrics: false`: every method does nothing. */
export const NOOP_METRICS: MetricsRecorder = Object.freeze({
  enabled: false,
  publisherEvents: nothing,
  publisherResync: nothing,
  publisherParked: nothing,
  publisherError: nothing,
  timeCommit: <T>(work: () => Promise<T>) => work(),
  timePositionLookup: <T>(work: () => Promise<T>) => work(),
  eventSent: nothing,
  reconnect: nothing,
  disconnect: nothing,
  authFailure: nothing,
  watchStreams: () => nothing,
  watchPublisherLag: () => nothing,
  watchPublisherLeases: () => nothing,
});
