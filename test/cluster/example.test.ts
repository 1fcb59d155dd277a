/** `examples/cluster.ts` runs to completion on a throw-away 3-master Redis Cluster. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisClusterServer } from '../helpers/redis-cluster.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
let cluster: RedisClusterServer;

beforeAll(async () => {
  // The example writes under BullMQ's default prefix: it gets a cluster nobody else uses.
  cluster = await startRedisCluster({ masters: 3 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describe('examples/cluster.ts', () => {
  it('runs jobs on three tagged queues and a batch to completion', { timeout: 90_000 }, async () => {
    const nodes = cluster.startupNodes.map(({ host, port }) => `${host}:${port}`).join(',');
    const child = spawn(process.execPath, ['--conditions=seenn-source', '--import', 'tsx', 'examples/cluster.ts'], {
      cwd: root,
      env: { ...process.env, REDIS_CLUSTER_NODES: nodes },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    expect(code, out).toBe(0);
    for (const queue of ['{video}', '{images}', '{exports}'])
      expect(out).toMatch(new RegExp(`A job on \\${queue.slice(0, -1)}\\} +completed 100%`));
    expect(out).toMatch(/Thumbnails +completed 100%/);
    expect(out).toContain('carol has 7 jobs');
  });
});
