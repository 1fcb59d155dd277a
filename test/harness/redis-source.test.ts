/**
 * The harness's choice of Redis: `REDIS_URL`, then the `redis-server` binary, then testcontainers
 * when a Docker engine answers, else an error naming all three; `SEENN_TEST_CLUSTER=1` asks for a
 * cluster from the binaries. Pure logic over probes: no Docker needed (the container branch itself
 * is not exercised on our machines, which run no Docker engine).
 */
import { describe, expect, it } from 'vitest';
import {
  chooseRedisSource,
  machineProbes,
  NO_CLUSTER_MESSAGE,
  NO_REDIS_MESSAGE,
  NoTestRedisError,
  type RedisProbes,
} from '../helpers/redis-source.js';

function probes(has: { server?: boolean; cli?: boolean; docker?: boolean }, asked: string[] = []): RedisProbes {
  return {
    hasRedisServer: async () => (asked.push('server'), has.server ?? false),
    hasRedisCli: async () => (asked.push('cli'), has.cli ?? false),
    dockerAnswers: async () => (asked.push('docker'), has.docker ?? false),
  };
}

describe('chooseRedisSource', () => {
  it('takes REDIS_URL first, without probing anything', async () => {
    const asked: string[] = [];
    expect(
      await chooseRedisSource({ REDIS_URL: 'redis://h:1' }, probes({ server: true, docker: true }, asked)),
    ).toEqual({ kind: 'url', url: 'redis://h:1' });
    expect(asked).toEqual([]);
  });

  it('then the redis-server binary, without asking Docker', async () => {
    const asked: string[] = [];
    expect(await chooseRedisSource({ REDIS_URL: '' }, probes({ server: true, docker: true }, asked))).toEqual({
      kind: 'binary',
    });
    expect(asked).toEqual(['server']);
  });

  it('then testcontainers when a Docker engine answers', async () => {
    expect(await chooseRedisSource({}, probes({ docker: true }))).toEqual({ kind: 'container' });
  });

  it('else fails with a message naming REDIS_URL, redis-server and testcontainers', async () => {
    const failure = chooseRedisSource({}, probes({}));
    await expect(failure).rejects.toThrow(NoTestRedisError);
    await expect(failure).rejects.toThrow(NO_REDIS_MESSAGE);
    for (const way of ['REDIS_URL', 'redis-server', 'testcontainers', 'Docker'])
      expect(NO_REDIS_MESSAGE).toContain(way);
  });

  it('SEENN_TEST_CLUSTER=1 takes a cluster from the binaries, even with REDIS_URL set, and says what is missing', async () => {
    expect(
      await chooseRedisSource(
        { SEENN_TEST_CLUSTER: '1', REDIS_URL: 'redis://h:1' },
        probes({ server: true, cli: true }),
      ),
    ).toEqual({ kind: 'cluster' });
    await expect(
      chooseRedisSource({ SEENN_TEST_CLUSTER: '1' }, probes({ server: true, cli: false, docker: true })),
    ).rejects.toThrow(NO_CLUSTER_MESSAGE);
  });

  it('probes this machine: the redis-server binary runs, a missing binary does not, and no Docker engine answers on a socket that does not exist', async () => {
    expect(await machineProbes({}).hasRedisServer()).toBe(true);
    expect(await machineProbes({ REDIS_SERVER_BIN: '/nonexistent/redis-server' }).hasRedisServer()).toBe(false);
    expect(await machineProbes({ DOCKER_HOST: 'unix:///nonexistent/docker.sock' }).dockerAnswers()).toBe(false);
    expect(await machineProbes({ DOCKER_HOST: 'tcp://127.0.0.1:1' }).dockerAnswers()).toBe(false);
  });
});
