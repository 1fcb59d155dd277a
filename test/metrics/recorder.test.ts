/**
 * The Prometheus recorder alone (no Redis): each call moves its metric by exactly what happened,
 * label values stay in their closed sets, Seenn instances sharing a registry share its metrics, and
 * the no-op recorder records nothing.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { isSeennError } from '../../src/errors.js';
import {
  METRIC_NAMES,
  MAX_EVENT_NAMES,
  NOOP_METRICS,
  PrometheusMetrics,
  resolveMetricsOptions,
  defaultMetricsRegistry,
} from '../../src/metrics/index.js';
import { histogramCount, parseExposition, sample } from './helpers.js';

const fresh = (): { registry: Registry; metrics: PrometheusMetrics } => {
  const registry = new Registry();
  return { registry, metrics: PrometheusMetrics.for(registry) };
};

describe('PrometheusMetrics', () => {
  it('registers exactly the documented names, each with help text', async () => {
    const { registry } = fresh();
    const names = registry
      .getMetricsAsArray()
      .map((metric) => metric.name)
      .sort();
    expect(names).toEqual(Object.values(METRIC_NAMES).sort());
    const text = await registry.metrics();
    for (const name of Object.values(METRIC_NAMES)) expect(text).toContain(`# HELP ${name} `);
    expect(text).toContain('# TYPE seenn_store_commit_duration_seconds histogram');
    expect(text).toContain('# TYPE seenn_bridge_streams gauge');
    expect(text).toContain('# TYPE seenn_publisher_events_total counter');
  });

  it('counters move by what was recorded, with bounded labels', async () => {
    const { registry, metrics } = fresh();
    metrics.publisherEvents('video', 'progress', 2);
    metrics.publisherEvents('video', 'progress', 3);
    metrics.publisherEvents('video', 'completed', 1);
    metrics.publisherResync('video');
    metrics.publisherParked('video');
    metrics.publisherError('video');
    metrics.publisherError('video');
    metrics.reconnect(true);
    metrics.reconnect(false);
    metrics.reconnect(false);
    for (const reason of ['client', 'slow-client', 'expired', 'idle', 'shutdown', 'something-new'])
      metrics.disconnect(reason);
    metrics.authFailure(401);
    metrics.authFailure(403);
    metrics.authFailure(500);
    expect(await sample(registry, METRIC_NAMES.publisherEvents, { queue: 'video', event: 'progress' })).toBe(5);
    expect(await sample(registry, METRIC_NAMES.publisherEvents, { queue: 'video', event: 'completed' })).toBe(1);
    expect(await sample(registry, METRIC_NAMES.publisherResyncs, { queue: 'video' })).toBe(1);
    expect(await sample(registry, METRIC_NAMES.publisherParked, { queue: 'video' })).toBe(1);
    expect(await sample(registry, METRIC_NAMES.publisherErrors, { queue: 'video' })).toBe(2);
    expect(await sample(registry, METRIC_NAMES.bridgeReconnects, { recovered: 'true' })).toBe(1);
    expect(await sample(registry, METRIC_NAMES.bridgeReconnects, { recovered: 'false' })).toBe(2);
    for (const reason of ['client', 'slow_client', 'token_expired', 'idle', 'shutdown', 'other'])
      expect(await sample(registry, METRIC_NAMES.bridgeDisconnects, { reason }), reason).toBe(1);
    expect(await sample(registry, METRIC_NAMES.bridgeAuthFailures, { status: '401' })).toBe(1);
    expect(await sample(registry, METRIC_NAMES.bridgeAuthFailures, { status: '403' })).toBe(1);
    expect(await sample(registry, METRIC_NAMES.bridgeAuthFailures, { status: '500' })).toBe(0);
    // A second scrape adds nothing new: tallies are moved once.
    expect(await sample(registry, METRIC_NAMES.publisherEvents, { queue: 'video', event: 'progress' })).toBe(5);
  });

  it('event names beyond the protocol’s shape, or past the cap, count as "other"', async () => {
    const { registry, metrics } = fresh();
    metrics.eventSent('job.progress');
    metrics.eventSent('job.progress');
    metrics.eventSent('Not An Event\nName');
    for (let i = 0; i < MAX_EVENT_NAMES + 5; i += 1)
      metrics.eventSent(`made.up_${String.fromCharCode(97 + (i % 26))}${i >= 26 ? 'x' : ''}`);
    expect(await sample(registry, METRIC_NAMES.bridgeEventsSent, { event: 'job.progress' })).toBe(2);
    const { values } = await (
      registry.getSingleMetric(METRIC_NAMES.bridgeEventsSent) as NonNullable<ReturnType<Registry['getSingleMetric']>>
    ).get();
    expect(values.length).toBeLessThanOrEqual(MAX_EVENT_NAMES + 1);
    expect(await sample(registry, METRIC_NAMES.bridgeEventsSent, { event: 'other' })).toBe(
      1 + (MAX_EVENT_NAMES + 5 - (MAX_EVENT_NAMES - 1)),
    );
  });

  it('timers observe one duration per call, also when the work throws, and pass the result through', async () => {
    const { registry, metrics } = fresh();
    await expect(metrics.timeCommit(async () => 42)).resolves.toBe(42);
    await expect(metrics.timeCommit(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await metrics.timePositionLookup(async () => null);
    expect(await histogramCount(registry, METRIC_NAMES.storeCommitDuration)).toBe(2);
    expect(await histogramCount(registry, METRIC_NAMES.positionLookupDuration)).toBe(1);
  });

  it('gauges are read at scrape time from what is watched, and forget what is unwatched', async () => {
    const { registry, metrics } = fresh();
    let open = 3;
    const stopA = metrics.watchStreams(() => open);
    const stopB = metrics.watchStreams(() => 2);
    expect(await sample(registry, METRIC_NAMES.bridgeStreams)).toBe(5);
    open = 1;
    stopB();
    expect(await sample(registry, METRIC_NAMES.bridgeStreams)).toBe(1);
    stopA();
    expect(await sample(registry, METRIC_NAMES.bridgeStreams)).toBe(0);

    let reads = 0;
    const stopLag = metrics.watchPublisherLag('video', async () => {
      reads += 1;
      return { seconds: 1.5, entries: 7 };
    });
    metrics.watchPublisherLag('broken', async () => Promise.reject(new Error('redis down')));
    const text = parseExposition(await registry.metrics());
    expect(text.get('seenn_publisher_lag_seconds{queue="video"}')).toBe(1.5);
    expect(text.get('seenn_publisher_lag_entries{queue="video"}')).toBe(7);
    // One read serves both gauges; a queue whose read fails is left out rather than failing the scrape.
    expect(reads).toBe(1);
    expect([...text.keys()].some((key) => key.includes('broken'))).toBe(false);
    stopLag();
    expect(parseExposition(await registry.metrics()).has('seenn_publisher_lag_entries{queue="video"}')).toBe(false);

    let held = 1;
    const stopLeaseA = metrics.watchPublisherLeases('video', () => held);
    const stopLeaseB = metrics.watchPublisherLeases('video', () => 0);
    expect(await sample(registry, METRIC_NAMES.publisherLeases, { queue: 'video' })).toBe(1);
    held = 0;
    expect(await sample(registry, METRIC_NAMES.publisherLeases, { queue: 'video' })).toBe(0);
    stopLeaseA();
    stopLeaseB();
    expect(parseExposition(await registry.metrics()).has('seenn_publisher_leases_held{queue="video"}')).toBe(false);
  });

  it('one registry, one set of metrics: a second recorder for it is the same object', () => {
    const { registry, metrics } = fresh();
    expect(PrometheusMetrics.for(registry)).toBe(metrics);
  });

  it('a registry that already holds a seenn_* metric from elsewhere is refused with CONFIG_INVALID', () => {
    const registry = new Registry();
    PrometheusMetrics.for(registry);
    // The app registered a metric of the same name itself (or another copy of this package did).
    const copy = new Registry();
    copy.registerMetric(
      registry.getSingleMetric(METRIC_NAMES.bridgeStreams) as NonNullable<ReturnType<Registry['getSingleMetric']>>,
    );
    try {
      PrometheusMetrics.for(copy);
      expect.unreachable();
    } catch (error) {
      expect(isSeennError(error) && error.code).toBe('CONFIG_INVALID');
    }
  });
});

describe('the metrics option', () => {
  it('defaults to the package registry; false turns metrics off; anything else is CONFIG_INVALID', () => {
    expect(resolveMetricsOptions(undefined).registry).toBe(defaultMetricsRegistry());
    expect(resolveMetricsOptions({}).registry).toBe(defaultMetricsRegistry());
    const registry = new Registry();
    expect(resolveMetricsOptions({ registry }).registry).toBe(registry);
    expect(resolveMetricsOptions(false).registry).toBeNull();
    for (const bad of [true, { registry: {} }, { registry, extra: 1 }, 'yes']) {
      try {
        resolveMetricsOptions(bad as never);
        expect.unreachable();
      } catch (error) {
        expect(isSeennError(error) && error.code).toBe('CONFIG_INVALID');
      }
    }
  });

  it('the no-op recorder records nothing and passes results through', async () => {
    expect(NOOP_METRICS.enabled).toBe(false);
    await expect(NOOP_METRICS.timeCommit(async () => 'x')).resolves.toBe('x');
    expect(() => NOOP_METRICS.watchStreams(() => 1)()).not.toThrow();
  });
});
