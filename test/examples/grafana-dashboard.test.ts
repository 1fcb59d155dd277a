/**
 * `examples/grafana-dashboard.json` stays in step with the metrics: it queries only registered
 * seenn_* names (a histogram through its `_bucket`, `_sum` or `_count` series) and every registered
 * name, and it is a dashboard Grafana can import (panels with unique ids and a grid position, every
 * query on the `datasource` variable).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { METRIC_NAMES } from '../../src/metrics/index.js';

const FILE = fileURLToPath(new URL('../../examples/grafana-dashboard.json', import.meta.url));
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

const TargetSchema = z.object({
  refId: z.string(),
  expr: z.string().min(1),
  datasource: z.object({ type: z.string(), uid: z.string() }),
});
const PanelSchema = z.object({
  id: z.number().int(),
  type: z.string(),
  title: z.string().min(1),
  gridPos: z.object({ h: z.number(), w: z.number().max(24), x: z.number().min(0).max(23), y: z.number().min(0) }),
  targets: z.array(TargetSchema).optional(),
});
const DashboardSchema = z.object({
  uid: z.string().min(1),
  title: z.string().min(1),
  schemaVersion: z.number(),
  templating: z.object({ list: z.array(z.object({ name: z.string(), type: z.string() })) }),
  panels: z.array(PanelSchema).min(1),
});

const dashboard = DashboardSchema.parse(JSON.parse(readFileSync(FILE, 'utf8')));
const registered: ReadonlySet<string> = new Set(Object.values(METRIC_NAMES));
const queries = dashboard.panels.flatMap((panel) => panel.targets ?? []);

/** The registered metric a series name belongs to (a histogram's `_bucket`/`_sum`/`_count` series map to it). */
function metricOf(series: string): string {
  if (registered.has(series)) return series;
  const base = series.replace(/_(bucket|sum|count)$/, '');
  return registered.has(base) ? base : series;
}

/** Every seenn_* series an expression reads. */
function seriesIn(expr: string): string[] {
  return [...expr.matchAll(/\bseenn_[a-z_]+\b/g)].map((match) => match[0]);
}

describe('the Grafana dashboard', () => {
  it('queries only registered metric names', () => {
    const unknown = queries
      .flatMap((query) => seriesIn(query.expr))
      .filter((series) => !registered.has(metricOf(series)));
    expect(unknown).toEqual([]);
  });

  it('queries every registered metric', () => {
    const queried = new Set(queries.flatMap((query) => seriesIn(query.expr).map(metricOf)));
    expect([...registered].filter((name) => !queried.has(name))).toEqual([]);
  });

  it('is importable: unique panel ids, every query on the datasource variable, balanced expressions', () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.map((variable) => variable.name)).toEqual(
      expect.arrayContaining(['datasource', 'queue']),
    );
    for (const panel of dashboard.panels) {
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
      if (panel.type !== 'row') expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
    for (const query of queries) {
      expect(query.datasource).toEqual(DATASOURCE);
      let depth = 0;
      for (const char of query.expr) {
        if (char === '(' || char === '{' || char === '[') depth += 1;
        if (char === ')' || char === '}' || char === ']') depth -= 1;
        expect(depth, query.expr).toBeGreaterThanOrEqual(0);
      }
      expect(depth, query.expr).toBe(0);
    }
    // Histograms are read as quantiles of their buckets, never as a bare (nonexistent) series.
    for (const name of [METRIC_NAMES.storeCommitDuration, METRIC_NAMES.positionLookupDuration]) {
      expect(
        queries.some((query) => query.expr.includes(`histogram_quantile(0.99, sum by (le) (rate(${name}_bucket[`)),
        name,
      ).toBe(true);
      expect(
        queries.flatMap((query) => seriesIn(query.expr)),
        name,
      ).not.toContain(name);
    }
  });
});
