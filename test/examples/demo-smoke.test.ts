/**
 * `npm run demo -- --smoke` end to end as a child process: Redis from REDIS_URL, worker, publisher,
 * bridge and the demo routes; a video and a 5-image batch followed by the Node client to completion.
 * And the clear refusal when REDIS_URL points at nothing.
 */
import { describe, expect, it } from 'vitest';
import { freePort } from '../helpers/redis-server.js';
import { runDemo } from './demo-process.js';

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

  it('exits 1 with a clear message when REDIS_URL points at no Redis', async () => {
    const { code, output } = await runDemo({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` }, [], 30_000);
    expect(code).toBe(1);
    expect(output).toMatch(/REDIS_URL is set to redis:\/\/127\.0\.0\.1:\d+, but no Redis answers there\./);
  });
});
