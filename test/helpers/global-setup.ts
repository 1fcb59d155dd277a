/**
 * Vitest global set-up: gives every test file a Redis it may use, chosen by `chooseRedisSource`
 * (`REDIS_URL`, else our own `redis-server`, else a testcontainers Redis when Docker answers; with
 * `SEENN_TEST_CLUSTER=1`, a throw-away 3-master Redis Cluster). The URL reaches tests through
 * `inject('redisUrl')` and child processes through `SEENN_TEST_REDIS_URL`; a cluster's start-up
 * nodes through `inject('redisCluster')` and `SEENN_TEST_REDIS_CLUSTER` (`host:port,…`).
 */
import type { TestProject } from 'vitest/node';
import { startRedisCluster } from '../../examples/lib/redis-cluster.js';
import { chooseRedisSource, machineProbes, startRedisContainer } from './redis-source.js';
import { startRedisServer } from './redis-server.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const source = await chooseRedisSource(process.env, machineProbes());
  let url: string;
  let stop: () => Promise<void> = async () => undefined;
  let cluster: { host: string; port: number }[] | null = null;
  if (source.kind === 'url') {
    url = source.url;
  } else if (source.kind === 'binary') {
    const server = await startRedisServer();
    url = server.url;
    stop = () => server.stop();
  } else if (source.kind === 'container') {
    const container = await startRedisContainer();
    url = container.url;
    stop = () => container.stop();
  } else {
    const server = await startRedisCluster({ masters: 3 });
    cluster = server.startupNodes;
    url = `redis://${cluster[0]?.host ?? '127.0.0.1'}:${cluster[0]?.port ?? 0}`;
    stop = () => server.stop();
    process.env['SEENN_TEST_REDIS_CLUSTER'] = cluster.map(({ host, port }) => `${host}:${port}`).join(',');
  }
  process.env['SEENN_TEST_REDIS_URL'] = url;
  project.provide('redisUrl', url);
  project.provide('redisCluster', cluster);
  return stop;
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** The start-up nodes when the run uses a Redis Cluster (`SEENN_TEST_CLUSTER=1`), else null. */
    redisCluster: { host: string; port: number }[] | null;
  }
}
