/**
 * Which Redis the tests use, in the order DESIGN.md fixes: `REDIS_URL` when set; else a throw-away
 * `redis-server` started from the binary; else a Redis container through testcontainers when a
 * Docker engine answers; else a clear error naming all three. `SEENN_TEST_CLUSTER=1` asks for a
 * throw-away 3-master Redis Cluster instead (from the `redis-server` and `redis-cli` binaries).
 *
 * The choice is a pure function of the environment and two probes, so it is unit-tested without
 * Docker. The container branch loads `testcontainers` with a dynamic import: the package is not a
 * dependency of this repository (no Docker engine runs on our machines), so that branch has not
 * been exercised here; install `testcontainers` where Docker runs.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';

/** Where the tests' Redis comes from. */
export type RedisSource =
  { kind: 'url'; url: string } | { kind: 'binary' } | { kind: 'container' } | { kind: 'cluster' };

/** What {@link chooseRedisSource} asks about the machine. */
export interface RedisProbes {
  /** Whether the `redis-server` binary runs. */
  hasRedisServer(): Promise<boolean>;
  /** Whether the `redis-cli` binary runs (needed to create a cluster). */
  hasRedisCli(): Promise<boolean>;
  /** Whether a Docker engine answers. */
  dockerAnswers(): Promise<boolean>;
}

/** Thrown when no way to get a Redis is available; the message names every way. */
export class NoTestRedisError extends Error {
  override readonly name = 'NoTestRedisError';
}

export const NO_REDIS_MESSAGE =
  'The tests need a Redis and found none. Either (1) set REDIS_URL to a Redis the tests may use (they never flush it), ' +
  'or (2) install the redis-server binary (apt-get install -y redis-server; REDIS_SERVER_BIN names another path), ' +
  'or (3) run a Docker engine and install the testcontainers package (npm i -D testcontainers), which then starts redis:7.';

export const NO_CLUSTER_MESSAGE =
  'SEENN_TEST_CLUSTER=1 starts a Redis Cluster from the redis-server and redis-cli binaries, and at least one of them is missing ' +
  '(apt-get install -y redis-server; REDIS_SERVER_BIN and REDIS_CLI_BIN name other paths). Unset SEENN_TEST_CLUSTER to use one Redis.';

/** Picks the source; see the module comment for the order. Throws {@link NoTestRedisError}. */
export async function chooseRedisSource(
  env: Readonly<Record<string, string | undefined>>,
  probes: RedisProbes,
): Promise<RedisSource> {
  if (env['SEENN_TEST_CLUSTER'] === '1') {
    if ((await probes.hasRedisServer()) && (await probes.hasRedisCli())) return { kind: 'cluster' };
    throw new NoTestRedisError(NO_CLUSTER_MESSAGE);
  }
  const url = env['REDIS_URL'];
  if (url !== undefined && url !== '') return { kind: 'url', url };
  if (await probes.hasRedisServer()) return { kind: 'binary' };
  if (await probes.dockerAnswers()) return { kind: 'container' };
  throw new NoTestRedisError(NO_REDIS_MESSAGE);
}

function runs(binary: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(binary, ['--version'], { timeout: 5_000 }, (error) => resolve(error === null));
  });
}

/** Asks a Docker engine `GET /_ping` (DOCKER_HOST `unix://` or `tcp://`, else /var/run/docker.sock). */
function ping(env: Readonly<Record<string, string | undefined>>, timeoutMs = 1_500): Promise<boolean> {
  const host = env['DOCKER_HOST'];
  let target: { socketPath: string } | { host: string; port: number };
  if (host?.startsWith('tcp://')) {
    const parsed = new URL(host.replace('tcp://', 'http://'));
    target = { host: parsed.hostname, port: Number(parsed.port || 2375) };
  } else {
    const socketPath = host?.startsWith('unix://') ? host.slice('unix://'.length) : '/var/run/docker.sock';
    if (!existsSync(socketPath)) return Promise.resolve(false);
    target = { socketPath };
  }
  return new Promise((resolve) => {
    const req = request({ ...target, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** The probes of this machine. */
export function machineProbes(env: Readonly<Record<string, string | undefined>> = process.env): RedisProbes {
  return {
    hasRedisServer: () => runs(env['REDIS_SERVER_BIN'] ?? 'redis-server'),
    hasRedisCli: () => runs(env['REDIS_CLI_BIN'] ?? 'redis-cli'),
    dockerAnswers: () => ping(env),
  };
}

/** A Redis in a container, started through testcontainers (loaded only when this branch is chosen). */
export async function startRedisContainer(): Promise<{ url: string; stop(): Promise<void> }> {
  // A variable specifier: testcontainers is optional and not installed in this repository.
  const specifier = 'testcontainers';
  let module: { GenericContainer: new (image: string) => ContainerBuilder };
  try {
    module = (await import(specifier)) as typeof module;
  } catch (error) {
    throw new NoTestRedisError(
      `A Docker engine answers but the testcontainers package is not installed (npm i -D testcontainers). ${NO_REDIS_MESSAGE}`,
      { cause: error },
    );
  }
  const container = await new module.GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
  return {
    url: `redis://${container.getHost()}:${container.getMappedPort(6379)}`,
    stop: async () => {
      await container.stop();
    },
  };
}

/** The part of testcontainers' API the harness uses. */
interface ContainerBuilder {
  withExposedPorts(port: number): ContainerBuilder;
  start(): Promise<{ getHost(): string; getMappedPort(port: number): number; stop(): Promise<unknown> }>;
}
