/**
 * Every runnable example in `examples/` runs to completion against a Redis of its own, and every
 * README code block that names an example file is that file, word for word.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
let redis: RedisServer;

beforeAll(async () => {
  // Examples write under BullMQ's default prefix: they get a Redis nobody else uses.
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis.stop();
});

/** Runs `npm run example <file>` and returns its exit code and output. */
async function runExample(file: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--conditions=seenn-source', '--import', 'tsx', file], {
    cwd: root,
    env: { ...process.env, REDIS_URL: redis.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, out };
}

describe('examples', () => {
  it('quickstart: a job watched live over SSE until it completes', { timeout: 90_000 }, async () => {
    const { code, out } = await runExample('examples/quickstart.ts');
    expect(code, out).toBe(0);
    expect(out).toMatch(/running +33% +2\/3 generation…/);
    expect(out).toMatch(/completed 100%/);
    expect(out).toMatch(/result: \{ url: 'https:\/\/cdn\.example\.com\/[0-9A-Z]{26}\.mp4' \}/);
  });

  it('batch: the parent follows its five children to 100 %', { timeout: 90_000 }, async () => {
    const { code, out } = await runExample('examples/batch.ts');
    expect(code, out).toBe(0);
    expect(out.trim().split('\n').at(-1)).toBe('completed 100%  completed 5/5  [100 100 100 100 100]');
  });

  it('plain-queue: a plain queue.add job described by the publisher', { timeout: 90_000 }, async () => {
    const { code, out } = await runExample('examples/plain-queue.ts');
    expect(code, out).toBe(0);
    expect(out).toContain('completed 100%');
    expect(out).toContain('result: { rows: 1234 }');
  });
});

describe('README', () => {
  it('every code block that names an example file is that file', async () => {
    const readme = await readFile(new URL('README.md', `file://${root}`), 'utf8');
    const blocks = [...readme.matchAll(/<!-- example: (\S+) -->\n```ts\n([\s\S]*?)```/g)];
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    for (const [, file, code] of blocks) {
      expect(code, file).toBe(await readFile(new URL(file as string, `file://${root}`), 'utf8'));
    }
  });

  it('gives the two set-up commands', async () => {
    const readme = await readFile(new URL('README.md', `file://${root}`), 'utf8');
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toContain('npm ci && npm test');
  });
});
