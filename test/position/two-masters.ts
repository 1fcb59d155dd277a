/**
 * A throw-away Redis Cluster of two masters (no replicas) for the position tests: two `redis-server`
 * processes in cluster mode on free loopback ports, slots 0–8191 on the first and 8192–16383 on the
 * second. Small on purpose (the shared 3-master harness belongs to test/helpers); nothing on disk
 * outlives `stop()`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { freePort, startRedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

/** A running two-master cluster. */
export interface TwoMasters {
  readonly ports: [number, number];
  /** A new ioredis Cluster client (close it yourself). */
  connect(): Cluster;
  /** The master (0 or 1) that serves `key`. */
  masterOf(key: string): Promise<0 | 1>;
  stop(): Promise<void>;
}

/** Starts the cluster and waits until both masters say `cluster_state:ok`. */
export async function startTwoMasters(): Promise<TwoMasters> {
  const dir = await mkdtemp(join(tmpdir(), 'seenn-pos-cluster-'));
  const ports: [number, number] = [await freePort(), await freePort()];
  const started = await Promise.allSettled(
    ports.map((port) =>
      startRedisServer({
        port,
        args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir],
      }),
    ),
  );
  const servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const admins: Redis[] = [];
  const stop = async (): Promise<void> => {
    for (const admin of admins) admin.disconnect();
    await Promise.all(servers.map((server) => server.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    await stop();
    throw failed.reason;
  }
  try {
    for (const port of ports) admins.push(new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 }));
    const [a, b] = admins as [Redis, Redis];
    await a.call('CLUSTER', 'ADDSLOTSRANGE', '0', '8191');
    await b.call('CLUSTER', 'ADDSLOTSRANGE', '8192', '16383');
    await a.call('CLUSTER', 'MEET', '127.0.0.1', String(ports[1]));
    await waitFor(
      async () =>
        (await Promise.all(admins.map((admin) => admin.call('CLUSTER', 'INFO')))).every(
          (info) => String(info).includes('cluster_state:ok') && String(info).includes('cluster_known_nodes:2'),
        ),
      {
        what: 'the two-master cluster to be ok',
        timeoutMs: 15_000,
      },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    ports,
    connect: () =>
      new Cluster([{ host: '127.0.0.1', port: ports[0] }], { redisOptions: { maxRetriesPerRequest: null } }),
    async masterOf(key) {
      const slot = Number(await (admins[0] as Redis).call('CLUSTER', 'KEYSLOT', key));
      return slot < 8192 ? 0 : 1;
    },
    stop,
  };
}
