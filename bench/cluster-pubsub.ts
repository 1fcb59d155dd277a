/**
 * Live fan-out on a Redis Cluster: plain Pub/Sub (PUBLISH/SUBSCRIBE) against sharded Pub/Sub
 * (SPUBLISH/SSUBSCRIBE, Redis ≥ 7), side by side in one run on a throw-away 3-master cluster.
 *
 * For each kind: one publisher client sends `--messages` messages of ~200 bytes (a Seenn live
 * notification's size) on one channel, in pipelined batches of 100; one subscriber receives them.
 * Printed: messages/s delivered to the subscriber, and cluster-bus messages per published message
 * (from CLUSTER INFO `cluster_stats_messages_publish*_sent`, summed over the nodes): plain PUBLISH is
 * forwarded by the receiving node to every other node, sharded SPUBLISH stays on the channel's shard.
 *
 * Run: flock -x /tmp/seenn-cpu.lock npx tsx bench/cluster-pubsub.ts [--messages 20000]
 */
import { Cluster, Redis } from 'ioredis';
import { startRedisCluster, type RedisClusterServer } from '../examples/lib/redis-cluster.js';

const messagesArg = process.argv.indexOf('--messages');
const MESSAGES = messagesArg > 0 ? Number(process.argv[messagesArg + 1]) : 20_000;
const PAYLOAD = `user-1234\n1764480000000-0\njob.progress\n${JSON.stringify({ id: '01JB0000000000000000000000', status: 'running', progress: 42, message: 'x'.repeat(80) })}`;

async function busSent(cluster: RedisClusterServer, field: string): Promise<number> {
  let total = 0;
  for (const node of cluster.nodes) {
    const admin = new Redis(node.port, node.host);
    const info = String(await admin.call('CLUSTER', 'INFO'));
    admin.disconnect();
    total += Number(new RegExp(`${field}:(\\d+)`).exec(info)?.[1] ?? 0);
  }
  return total;
}

async function measure(
  cluster: RedisClusterServer,
  kind: 'plain' | 'sharded',
): Promise<{ perSecond: number; busPerMessage: number }> {
  const channel = `bench:{live}:${kind}`;
  const subscriber = new Cluster(cluster.startupNodes, kind === 'sharded' ? { shardedSubscribers: true } : {});
  const publisher = cluster.connect();
  await publisher.ping();
  let received = 0;
  let done: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (done = resolve));
  const onMessage = (): void => {
    received += 1;
    if (received === MESSAGES) done();
  };
  if (kind === 'sharded') {
    subscriber.on('smessage', onMessage);
    await subscriber.ssubscribe(channel);
  } else {
    subscriber.on('message', onMessage);
    await subscriber.subscribe(channel);
  }
  const field = kind === 'sharded' ? 'cluster_stats_messages_publishshard_sent' : 'cluster_stats_messages_publish_sent';
  const busBefore = await busSent(cluster, field);
  const started = performance.now();
  for (let sent = 0; sent < MESSAGES; sent += 100) {
    const pipeline = publisher.pipeline();
    for (let i = 0; i < 100 && sent + i < MESSAGES; i += 1) {
      if (kind === 'sharded') pipeline.spublish(channel, PAYLOAD);
      else pipeline.publish(channel, PAYLOAD);
    }
    await pipeline.exec();
  }
  await all;
  const seconds = (performance.now() - started) / 1000;
  const busAfter = await busSent(cluster, field);
  subscriber.disconnect();
  publisher.disconnect();
  return { perSecond: Math.round(MESSAGES / seconds), busPerMessage: (busAfter - busBefore) / MESSAGES };
}

const cluster = await startRedisCluster({ masters: 3 });
try {
  const version = String(
    await new Redis(cluster.startupNodes[0]?.port ?? 0)
      .info('server')
      .then((info) => /redis_version:(\S+)/.exec(info)?.[1]),
  );
  const plain = await measure(cluster, 'plain');
  const sharded = await measure(cluster, 'sharded');
  console.log(
    `Redis ${version}, 3 masters, ${MESSAGES} messages of ${PAYLOAD.length} bytes, one channel, one subscriber`,
  );
  console.log('kind     | delivered msg/s | cluster-bus msgs per message');
  console.log(`plain    | ${String(plain.perSecond).padStart(15)} | ${plain.busPerMessage.toFixed(2)}`);
  console.log(`sharded  | ${String(sharded.perSecond).padStart(15)} | ${sharded.busPerMessage.toFixed(2)}`);
  console.log(`sharded / plain delivered: ${(sharded.perSecond / plain.perSecond).toFixed(2)}×`);
} finally {
  await cluster.stop();
  process.exit(0);
}
