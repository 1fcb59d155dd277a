/**
 * Starts and stops a throw-away Redis Cluster for tests, the cluster example and benchmarks: N
 * masters (and optionally one replica each), every node a `redis-server --cluster-enabled yes` on
 * free loopback ports, joined with `redis-cli --cluster create … --cluster-yes`. Nothing outlives
 * `stop()` (node files live in a temporary directory, persistence is off).
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort, startRedisServer, stopProcess } from './redis-server.js';

const run = promisify(execFile);

/** One node of a {@link RedisClusterServer}. */
export interface ClusterNodeProcess {
  readonly host: string;
  readonly port: number;
  readonly process: ChildProcess;
}

/** A running throw-away Redis Cluster. */
export interface RedisClusterServer {
  /** Every node, masters first as created (roles change after a failover: ask the cluster). */
  readonly nodes: readonly ClusterNodeProcess[];
  /** Start-up nodes for `new Cluster(...)`. */
  readonly startupNodes: { host: string; port: number }[];
  /** A new ioredis Cluster client with `maxRetriesPerRequest: null` (close it yourself). */
  connect(): Cluster;
  /** The port of the master serving `slot` now. */
  masterPortOf(slot: number): Promise<number>;
  /**
   * A manual `CLUSTER FAILOVER` of the master serving `slot`: sent to one of its replicas (the cluster
   * needs `replicasPerMaster` ≥ 1), which takes over once it has every write of the master (no write is
   * lost). Resolves when the replica is a master and every node routes `slot` to it.
   */
  failover(slot: number, timeoutMs?: number): Promise<{ oldMasterPort: number; newMasterPort: number }>;
  /** Stops every node (SIGTERM, then SIGKILL after `timeoutMs`) and removes the node files. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Options of {@link startRedisCluster}. */
export interface RedisClusterOptions {
  /** Masters (slots split evenly). @defaultValue 3 */
  masters?: number;
  /** Replicas per master (for failover tests). @defaultValue 0 */
  replicasPerMaster?: number;
  /** `cluster-node-timeout`, ms. @defaultValue 2000 */
  nodeTimeoutMs?: number;
  /** How long to wait for the cluster to be ready, ms. @defaultValue 30000 */
  readyTimeoutMs?: number;
}

const HOST = '127.0.0.1';

/**
 * Starts a cluster from the `redis-server` and `redis-cli` binaries (`REDIS_SERVER_BIN` and
 * `REDIS_CLI_BIN` override their names) and waits until every node reports `cluster_state:ok` and
 * knows every other node. Throws with a clear message when a binary is missing.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterServer> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 0;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 2_000;
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const binary = process.env['REDIS_SERVER_BIN'] ?? 'redis-server';
  const cli = process.env['REDIS_CLI_BIN'] ?? 'redis-cli';
  const dir = await mkdtemp(join(tmpdir(), 'seenn-cluster-'));
  const nodes: ClusterNodeProcess[] = [];
  const stop = async (timeoutMs = 5_000): Promise<void> => {
    await Promise.all(nodes.map(({ process: child }) => stopProcess(child, timeoutMs)));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const count = masters * (1 + replicas);
    for (let i = 0; i < count; i += 1) {
      const port = await freePort();
      const busPort = await freePort();
      const server = await startRedisServer({
        port,
        binary,
        args: [
          '--cluster-enabled',
          'yes',
          '--cluster-port',
          String(busPort),
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          String(nodeTimeoutMs),
          '--dir',
          dir,
          '--maxmemory-policy',
          'noeviction',
        ],
      });
      nodes.push({ host: HOST, port, process: server.process });
    }
    const addresses = nodes.map((node) => `${node.host}:${node.port}`);
    try {
      await run(cli, ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'], {
        timeout: readyTimeoutMs,
      });
    } catch (error) {
      throw new Error(
        `could not create the cluster with ${cli} --cluster create: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    await waitUntilReady(nodes, masters, replicas, readyTimeoutMs);
  } catch (error) {
    await stop();
    throw error;
  }
  const startupNodes = nodes.map(({ host, port }) => ({ host, port }));
  const masterPortOf = async (slot: number): Promise<number> => {
    for (const node of nodes) {
      if (node.process.exitCode !== null) continue;
      const admin = new Redis(node.port, node.host, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await admin.connect();
        const ranges = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, string]][];
        const range = ranges.find(([from, to]) => slot >= from && slot <= to);
        if (range !== undefined) return range[2][1];
      } catch {
        // try the next node
      } finally {
        admin.disconnect();
      }
    }
    throw new Error(`no node answers which master serves slot ${slot}`);
  };
  return {
    nodes,
    startupNodes,
    connect: () => new Cluster(startupNodes, { redisOptions: { maxRetriesPerRequest: null } }),
    masterPortOf,
    async failover(slot, timeoutMs = 20_000) {
      const oldMasterPort = await masterPortOf(slot);
      const master = new Redis(oldMasterPort, HOST, { maxRetriesPerRequest: 1 });
      let replicaPort: number;
      try {
        // ROLE on a master: ['master', offset, [[ip, port, offset], …]].
        const [, , replicaList] = (await master.call('ROLE')) as [string, number, [string, string, string][]];
        const first = replicaList[0];
        if (first === undefined) throw new Error(`the master on port ${oldMasterPort} has no replica to fail over to`);
        replicaPort = Number(first[1]);
      } finally {
        master.disconnect();
      }
      const replica = new Redis(replicaPort, HOST, { maxRetriesPerRequest: 1 });
      const admins = nodes
        .filter((node) => node.process.exitCode === null)
        .map((node) => new Redis(node.port, node.host, { maxRetriesPerRequest: 1 }));
      try {
        await replica.call('CLUSTER', 'FAILOVER');
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const role = (await replica.call('ROLE')) as unknown[];
          const routes = await Promise.all(
            admins.map(async (admin) => {
              const ranges = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, string]][];
              return ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
            }),
          );
          if (role[0] === 'master' && routes.every((port) => port === replicaPort))
            return { oldMasterPort, newMasterPort: replicaPort };
          if (Date.now() > deadline)
            throw new Error(
              `the failover of slot ${slot} to port ${replicaPort} did not complete within ${timeoutMs} ms (role ${String(role[0])}, routes ${routes.join(',')})`,
            );
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      } finally {
        replica.disconnect();
        for (const admin of admins) admin.disconnect();
      }
    },
    stop,
  };
}

async function waitUntilReady(
  nodes: readonly ClusterNodeProcess[],
  masters: number,
  replicas: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const admins = nodes.map((node) => new Redis(node.port, node.host, { maxRetriesPerRequest: 1 }));
  try {
    for (;;) {
      const infos = await Promise.all(admins.map((admin) => admin.call('CLUSTER', 'INFO').then(String, () => '')));
      const ok = infos.every(
        (info) =>
          info.includes('cluster_state:ok') &&
          info.includes(`cluster_known_nodes:${nodes.length}`) &&
          info.includes('cluster_slots_ok:16384'),
      );
      let synced = true;
      if (ok && replicas > 0) {
        const roles = await Promise.all(
          admins.map((admin) =>
            admin.call('ROLE').then(
              (role) => role as unknown[],
              () => [],
            ),
          ),
        );
        const replicaRoles = roles.filter((role) => role[0] === 'slave');
        synced = replicaRoles.length === masters * replicas && replicaRoles.every((role) => role[3] === 'connected');
      }
      if (ok && synced) return;
      if (Date.now() > deadline)
        throw new Error(
          `the cluster was not ready within ${timeoutMs} ms: ${infos.map((info) => /cluster_state:\w+/.exec(info)?.[0] ?? '?').join(', ')}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    for (const admin of admins) admin.disconnect();
  }
}
