/**
 * Reading metrics in tests: one sample of a registry's metric (prom-client's own collection, as a
 * scrape does it), and Prometheus text parsed back into samples.
 */
import type { Registry } from 'prom-client';

/** The value of `name` with exactly `labels` in `registry` (0 when the series does not exist yet). */
export async function sample(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const wanted = Object.entries(labels);
  const match = values.find((value) => {
    const own = Object.entries(value.labels);
    return own.length === wanted.length && wanted.every(([key, expected]) => String(value.labels[key]) === expected);
  });
  return match?.value ?? 0;
}

/** The observation count of histogram `name` (its `_count` series). */
export async function histogramCount(registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  // Histogram values carry `metricName` (`<name>_bucket`, `_sum`, `_count`), which the typings omit.
  return values.find((value) => (value as { metricName?: string }).metricName === `${name}_count`)?.value ?? 0;
}

/** Samples of Prometheus text: `name{labels}` → value. */
export function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return samples;
}
