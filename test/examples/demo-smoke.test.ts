/**
 * `npm run demo -- --smoke` end to end as a child process: Redis from REDIS_URL, worker, publisher,
 * bridge and the demo routes; a video and a 5-image batch followed by the Node client to completion.
 * The admin route at `/admin` behind the token the demo prints. And the clear refusal when
 * REDIS_URL points at nothing.
 */
import { describe, expect, it } from 'vitest';
import { DEMO_QUEUES } from '../../examples/lib/demo-workers.js';
import { freePort } from '../helpers/redis-server.js';
import { runDemo, startDemo } from './demo-process.js';

describe('npm run demo', () => {
  it('--smoke runs a video and a batch to completion, prints state changes, cleans up and exits 0', async () => {
    const { code, output } = await runDemo({}, ['--smoke']);
    expect(output).toContain('smoke: ok (2 jobs completed)');
    expect(code).toBe(0);
    expect(output).toMatch(/Video #1: running /);
    expect(output).toMatch(/Video #1: completed 100 % · stage 3\/3 rendering/);
    expect(output).toMatch(/└ Image 5: completed 100 %/);
    expect(output).toMatch(/Batch #2: 5 images: completed 100 % · children 5\/5 done/);
    expect(output).toContain('stopped.');
  }, 120_000);

  it('serves the admin route at /admin behind the token it prints: the Seenn page, bull-board, metrics', async () => {
    const demo = await startDemo();
    try {
      const output = demo.output();
      const port = new URL(demo.url).port;
      expect(output).toContain(
        `Admin: http://localhost:${port}/admin/ (bull-board at /admin/queues/, Prometheus metrics at /admin/metrics)`,
      );
      const token = /Admin token: (\S+)/.exec(output)?.[1];
      expect(token?.length).toBeGreaterThanOrEqual(32);
      const basic = `Basic ${Buffer.from(`ops:${token as string}`).toString('base64')}`;

      const refused = await fetch(`${demo.url}/admin/`);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(/^Basic /);
      // As a browser sends it once the user typed the token: the Seenn page, with both demo queues.
      const page = await fetch(`${demo.url}/admin/`, { headers: { authorization: basic } });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await page.text();
      for (const queue of Object.values(DEMO_QUEUES)) expect(html).toContain(queue);
      const board = await fetch(`${demo.url}/admin/queues/`, { headers: { authorization: basic } });
      expect(board.status).toBe(200);
      expect(await board.text()).toMatch(/<html/i);
      const metrics = await fetch(`${demo.url}/admin/metrics`, {
        headers: { authorization: `Bearer ${token as string}` },
      });
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('# TYPE seenn_bridge_streams gauge');
    } finally {
      expect(await demo.stop()).toBe(0);
    }
  }, 60_000);

  it('exits 1 with a clear message when REDIS_URL points at no Redis', async () => {
    const { code, output } = await runDemo({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` }, [], 30_000);
    expect(code).toBe(1);
    expect(output).toMatch(/REDIS_URL is set to redis:\/\/127\.0\.0\.1:\d+, but no Redis answers there\./);
  });
});
