/**
 * The Prometheus side of {@link MetricsRecorder}, on prom-client. One {@link PrometheusMetrics} per
 * registry: Seenn instances sharing a registry share its metrics (counters add up, the streams gauge
 * sums every bridge, lag gauges cover every watched queue).
 *
 * Hot paths only bump plain numbers; the tallies are moved into prom-client's counters when the
 * registry is scraped, and the gauges are read then too (streams from the bridges in memory, lag from
 * Redis, a few reads per queue).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { SeennError } from '../errors.js';
import type { LagReading, MetricsRecorder } from './recorder.js';
import {
  COMMIT_BUCKETS_SECONDS,
  DISCONNECT_REASONS,
  isEventNameLabel,
  LOOKUP_BUCKETS_SECONDS,
  MAX_EVENT_NAMES,
  METRIC_NAMES,
  OTHER,
} from './names.js';

/** A lag read that has not answered after this long is left out of the scrape. */
export const LAG_READ_TIMEOUT_MS = 2_000;

/** Counts by key, moved into a prom-client counter when scraped. */
class Tally {
  private readonly pending = new Map<string, number>();

  add(key: string, count = 1): void {
    this.pending.set(key, (this.pending.get(key) ?? 0) + count);
  }

  /** Hands each pending count to `flush` and forgets it. */
  drain(flush: (key: string, count: number) => void): void {
    for (const [key, count] of this.pending) flush(key, count);
    this.pending.clear();
  }
}

const registries = new WeakMap<Registry, PrometheusMetrics>();

/** The seenn_* metrics of one prom-client registry. */
export class PrometheusMetrics implements MetricsRecorder {
  readonly enabled = true;
  private readonly applied = new Tally();
  private readonly resyncs = new Tally();
  private readonly parked = new Tally();
  private readonly publisherErrors = new Tally();
  private readonly sent = new Tally();
  private readonly sentNames = new Set<string>();
  private readonly reconnects = new Tally();
  private readonly disconnects = new Tally();
  private readonly authFailures = new Tally();
  private readonly commitDuration: Histogram;
  private readonly lookupDuration: Histogram;
  private readonly streamSources = new Set<() => number>();
  private readonly lagSources = new Map<string, Set<() => Promise<LagReading>>>();
  private readonly leaseSources = new Map<string, Set<() => number>>();
  private lagRead: Promise<Map<string, LagReading>> | null = null;

  /** The metrics of `registry`, registered there on first use. */
  static for(registry: Registry): PrometheusMetrics {
    let metrics = registries.get(registry);
    if (metrics === undefined) {
      metrics = new PrometheusMetrics(registry);
      registries.set(registry, metrics);
    }
    return metrics;
  }

  private constructor(readonly registry: Registry) {
    for (const name of Object.values(METRIC_NAMES)) {
      if (registry.getSingleMetric(name) !== undefined)
        throw new SeennError(
          'CONFIG_INVALID',
          `metrics.registry already has a metric named ${name} (registered by something other than this copy of seenn-bullmq)`,
          { details: { name } },
        );
    }
    const registers = [registry];
    const tallied = (
      name: string,
      help: string,
      labelNames: readonly string[],
      tally: Tally,
      labels: (key: string) => Record<string, string>,
    ): Counter =>
      new Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          tally.drain((key, count) => this.inc(labels(key), count));
        },
      });
    tallied(
      METRIC_NAMES.publisherEvents,
      "Entries of a queue's BullMQ events stream the Seenn publisher applied and checkpointed, by queue and BullMQ event name",
      ['queue', 'event'],
      this.applied,
      (key) => {
        const [queue = '', event = ''] = key.split('\n');
        return { queue, event };
      },
    );
    tallied(
      METRIC_NAMES.publisherResyncs,
      'Times the publisher re-synced a queue from BullMQ because events were trimmed before it read them',
      ['queue'],
      this.resyncs,
      (queue) => ({ queue }),
    );
    tallied(
      METRIC_NAMES.publisherParked,
      "Jobs whose events kept failing to apply and were set aside (the queue's parked-jobs hash), by queue",
      ['queue'],
      this.parked,
      (queue) => ({ queue }),
    );
    tallied(
      METRIC_NAMES.publisherErrors,
      "Failures in the publisher's loop of a queue (it retries and carries on), by queue",
      ['queue'],
      this.publisherErrors,
      (queue) => ({ queue }),
    );
    tallied(
      METRIC_NAMES.bridgeEventsSent,
      'SSE events written to streams by this process, by SSE event name',
      ['event'],
      this.sent,
      (event) => ({ event }),
    );
    tallied(
      METRIC_NAMES.bridgeReconnects,
      'Streams opened with a cursor (Last-Event-ID); recovered="true" when the replay covered it',
      ['recovered'],
      this.reconnects,
      (recovered) => ({ recovered }),
    );
    tallied(
      METRIC_NAMES.bridgeDisconnects,
      'Streams ended on this process, by reason',
      ['reason'],
      this.disconnects,
      (reason) => ({ reason }),
    );
    tallied(
      METRIC_NAMES.bridgeAuthFailures,
      'Bridge requests refused for credentials, by HTTP status',
      ['status'],
      this.authFailures,
      (status) => ({ status }),
    );
    this.commitDuration = new Histogram({
      name: METRIC_NAMES.storeCommitDuration,
      help: 'Duration of one Seenn store commit (one Lua script), in seconds',
      buckets: [...COMMIT_BUCKETS_SECONDS],
      registers,
    });
    this.lookupDuration = new Histogram({
      name: METRIC_NAMES.positionLookupDuration,
      help: 'Duration of one queue-position lookup (one script per queue), in seconds',
      buckets: [...LOOKUP_BUCKETS_SECONDS],
      registers,
    });
    const streamSources = this.streamSources;
    new Gauge({
      name: METRIC_NAMES.bridgeStreams,
      help: 'SSE streams open on this process',
      registers,
      collect() {
        let open = 0;
        for (const count of streamSources) open += count();
        this.set(open);
      },
    });
    const leaseSources = this.leaseSources;
    new Gauge({
      name: METRIC_NAMES.publisherLeases,
      help: "Partition leases of a queue held by this process's publishers (summed over processes: the queue's partition count, 16 by default, when every partition is read; 0 when none is)",
      labelNames: ['queue'],
      registers,
      collect() {
        this.reset();
        for (const [queue, sources] of leaseSources) {
          let held = 0;
          for (const count of sources) held += count();
          this.set({ queue }, held);
        }
      },
    });
    const lagGauge = (name: string, help: string, value: (reading: LagReading) => number): Gauge =>
      new Gauge({
        name,
        help,
        labelNames: ['queue'],
        registers,
        collect: async function (this: Gauge) {
          const readings = await lag();
          this.reset();
          for (const [queue, reading] of readings) this.set({ queue }, value(reading));
        },
      });
    // The registry collects metrics in parallel: both lag gauges share one read per scrape.
    const lag = (): Promise<Map<string, LagReading>> =>
      (this.lagRead ??= this.readLag().finally(() => (this.lagRead = null)));
    lagGauge(
      METRIC_NAMES.publisherLagSeconds,
      "Time between the newest BullMQ event of a queue and the publisher's checkpoint, in seconds",
      (reading) => reading.seconds,
    );
    lagGauge(
      METRIC_NAMES.publisherLagEntries,
      "BullMQ events of a queue after the publisher's checkpoint (counted up to 1,000, else a lower bound)",
      (reading) => reading.entries,
    );
  }

  /** Reads the lag of every watched queue (a queue whose reads all fail or time out is left out). */
  private async readLag(): Promise<Map<string, LagReading>> {
    const readings = await Promise.all(
      [...this.lagSources].map(async ([queue, reads]) => [queue, await firstReading(reads)] as const),
    );
    const known = new Map<string, LagReading>();
    for (const [queue, reading] of readings) if (reading !== null) known.set(queue, reading);
    return known;
  }

  publisherEvents(queue: string, event: string, count: number): void {
    this.applied.add(`${queue}\n${event}`, count);
  }

  publisherResync(queue: string): void {
    this.resyncs.add(queue);
  }

  publisherParked(queue: string): void {
    this.parked.add(queue);
  }

  publisherError(queue: string): void {
    this.publisherErrors.add(queue);
  }

  async timeCommit<T>(work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.commitDuration.observe((performance.now() - started) / 1000);
    }
  }

  async timePositionLookup<T>(work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.lookupDuration.observe((performance.now() - started) / 1000);
    }
  }

  eventSent(event: string): void {
    if (!this.sentNames.has(event)) {
      if (this.sentNames.size >= MAX_EVENT_NAMES || !isEventNameLabel(event)) {
        this.sent.add(OTHER);
        return;
      }
      this.sentNames.add(event);
    }
    this.sent.add(event);
  }

  reconnect(recovered: boolean): void {
    this.reconnects.add(recovered ? 'true' : 'false');
  }

  disconnect(reason: string): void {
    this.disconnects.add(DISCONNECT_REASONS[reason] ?? OTHER);
  }

  authFailure(status: number): void {
    if (status === 401 || status === 403) this.authFailures.add(String(status));
  }

  watchStreams(count: () => number): () => void {
    this.streamSources.add(count);
    return () => this.streamSources.delete(count);
  }

  watchPublisherLag(queue: string, read: () => Promise<LagReading>): () => void {
    return watchPerQueue(this.lagSources, queue, read);
  }

  watchPublisherLeases(queue: string, held: () => number): () => void {
    return watchPerQueue(this.leaseSources, queue, held);
  }
}

/** Adds `source` to `queue`'s set in `sources`; the returned function removes it (and an emptied set). */
function watchPerQueue<S>(sources: Map<string, Set<S>>, queue: string, source: S): () => void {
  let set = sources.get(queue);
  if (set === undefined) {
    set = new Set();
    sources.set(queue, set);
  }
  set.add(source);
  return () => {
    set.delete(source);
    if (set.size === 0 && sources.get(queue) === set) sources.delete(queue);
  };
}

/** The first of `reads` that answers in time (they read the same queue), or `null`. */
async function firstReading(reads: ReadonlySet<() => Promise<LagReading>>): Promise<LagReading | null> {
  for (const read of reads) {
    const reading = await withTimeout(read(), LAG_READ_TIMEOUT_MS).catch(() => null);
    if (reading !== null) return reading;
  }
  return null;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(null), ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
