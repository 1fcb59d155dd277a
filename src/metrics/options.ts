/**
 * The `metrics` option of `new Seenn(...)`: `false` turns metrics off (a no-op recorder), else the
 * seenn_* metrics go to `registry`, or to the package's own registry when none is given.
 */
import { Registry } from 'prom-client';
import { z } from 'zod';
import { parseOrThrow } from '../options.js';
import { NOOP_METRICS, type MetricsRecorder } from './recorder.js';
import { PrometheusMetrics } from './prometheus.js';

/** Metrics of one Seenn instance. */
export type MetricsOptions =
  | false
  | {
      /**
       * The prom-client registry to register the seenn_* metrics in (e.g. prom-client's global
       * `register`, so the app's own `/metrics` shows them). Seenn instances sharing a registry share
       * its metrics. @defaultValue the package's own registry (one per process)
       */
      registry?: Registry;
    };

/** {@link MetricsOptions} resolved: the registry in use, or `null` when metrics are off. */
export interface ResolvedMetrics {
  registry: Registry | null;
}

let packageRegistry: Registry | undefined;

/** The package's own registry, used when the app names none (created on first use). */
export function defaultMetricsRegistry(): Registry {
  packageRegistry ??= new Registry();
  return packageRegistry;
}

// Duck-typed: the app's registry may come from its own copy of prom-client.
const RegistrySchema = z.custom<Registry>((value) => {
  const candidate = value as Partial<Record<keyof Registry, unknown>> | null;
  return (
    typeof value === 'object' &&
    candidate !== null &&
    typeof candidate.registerMetric === 'function' &&
    typeof candidate.getSingleMetric === 'function' &&
    typeof candidate.metrics === 'function'
  );
}, 'metrics.registry must be a prom-client Registry');

const MetricsSchema = z.union([z.literal(false), z.object({ registry: RegistrySchema.optional() }).strict()], {
  error: 'metrics must be false or { registry? }',
});

/** Validates the `metrics` option (throws `CONFIG_INVALID`); metrics are on by default. */
export function resolveMetricsOptions(options: MetricsOptions | undefined): ResolvedMetrics {
  if (options === undefined) return { registry: defaultMetricsRegistry() };
  const parsed = parseOrThrow(MetricsSchema, options, 'Seenn options (metrics)');
  if (parsed === false) return { registry: null };
  return { registry: parsed.registry ?? defaultMetricsRegistry() };
}

/** The recorder for resolved metrics options: the registry's seenn_* metrics, or {@link NOOP_METRICS}. */
export function metricsRecorder(metrics: ResolvedMetrics): MetricsRecorder {
  return metrics.registry === null ? NOOP_METRICS : PrometheusMetrics.for(metrics.registry);
}
