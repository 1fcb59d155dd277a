/**
 * `npm run demo`: the whole product in one command.
 *
 * - Redis: `REDIS_URL`, else one on localhost:6379, else a `redis-server` started here.
 * - BullMQ workers (a three-stage "video" job, batch images, and a story written word by word with
 *   `job.appendOutput`) wrapped with `seenn.processor`.
 * - The publisher (BullMQ events → Seenn state) and the bridge (SSE + REST at `/v1`).
 * - A web page on http://localhost:3000 (`PORT`, `HOST`) built from the package's client and React
 *   hooks, where you start jobs and watch them live; job state changes are printed here too.
 * - The admin route at `/admin`: the Seenn page (queues, publisher lag, bridges, a user's jobs),
 *   bull-board at `/admin/queues/` and Prometheus metrics at `/admin/metrics`, behind a token printed
 *   on start (`DEMO_ADMIN_TOKEN`, else a random one).
 *
 * Keys live under a prefix unique to this run and are deleted on exit; a Redis the demo did not start
 * is never flushed. Ctrl-C stops everything.
 *
 * Environment: `PORT` (3000; 0 picks a free port), `HOST` (127.0.0.1), `REDIS_URL`,
 * `DEMO_STAGE_MS` (2500, each video stage), `DEMO_IMAGE_MS` (2000, each image), `DEMO_WORD_MS`
 * (150, each word of the story), `DEMO_HEARTBEAT_MS` (15000), `DEMO_ADMIN_TOKEN` (random; at least
 * 32 characters). `--smoke` (or `DEMO_SMOKE=1`) starts a video and a batch, waits for
 * them to finish, and exits 0 (or 1 after 60 s).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { Seenn } from '../src/index.js';
import { buildDemoBundle } from './lib/demo-bundle.js';
import { JobLog } from './lib/demo-log.js';
import { NoRedisError, findOrStartRedis } from './lib/demo-redis.js';
import { createDemoApp } from './lib/demo-server.js';
import { DEMO_QUEUES, startDemoWorkers } from './lib/demo-workers.js';
import { runSmoke } from './lib/demo-smoke.js';
import { deletePrefix } from './lib/redis-keys.js';

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`${name} must be a non-negative number, got "${raw}"`);
    process.exit(2);
  }
  return value;
}

async function main(): Promise<void> {
  const smoke = process.argv.includes('--smoke') || process.env['DEMO_SMOKE'] === '1';
  const port = numberFromEnv('PORT', 3000);
  const host = process.env['HOST'] ?? '127.0.0.1';
  const timings = {
    stageMs: numberFromEnv('DEMO_STAGE_MS', 2_500),
    imageMs: numberFromEnv('DEMO_IMAGE_MS', 2_000),
    wordMs: numberFromEnv('DEMO_WORD_MS', 150),
  };
  const heartbeatMs = numberFromEnv('DEMO_HEARTBEAT_MS', 15_000);
  const adminToken = process.env['DEMO_ADMIN_TOKEN'] ?? randomBytes(24).toString('base64url');

  let redisInfo;
  try {
    redisInfo = await findOrStartRedis();
  } catch (error) {
    if (error instanceof NoRedisError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const prefix = `seenn-demo-${randomBytes(4).toString('hex')}`;
  const connection = new Redis(redisInfo.url, { maxRetriesPerRequest: null });
  connection.on('error', (error: Error) => console.error(`redis: ${error.message}`));
  const seenn = new Seenn({ connection, prefix, appId: 'demo', tokenSecret: randomBytes(32) });
  const publisher = seenn.publisher({ queues: [DEMO_QUEUES.video, DEMO_QUEUES.image, DEMO_QUEUES.story] });
  publisher.on('error', (error: Error) => console.error(`publisher: ${error.message}`));
  await publisher.start();
  const workers = startDemoWorkers(seenn, connection, prefix, timings);
  for (const worker of workers)
    worker.on('error', (error: Error) => console.error(`worker ${worker.name}: ${error.message}`));

  const bundle = await buildDemoBundle();
  const server = http.createServer();
  server.listen(port, host);
  await once(server, 'listening');
  const actualPort = (server.address() as AddressInfo).port;
  // The demo's own clients (terminal log, smoke check) reach it over loopback, whatever HOST it listens on.
  const localHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const baseUrl = `http://${localHost.includes(':') ? `[${localHost}]` : localHost}:${actualPort}`;
  const jobLog = new JobLog(seenn, `${baseUrl}/v1`, (line) => console.log(line));
  server.on(
    'request',
    await createDemoApp({ seenn, bundle, onVisitor: (userId) => jobLog.follow(userId), heartbeatMs, adminToken }),
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      console.log('stopping…');
      jobLog.close();
      server.close();
      server.closeAllConnections();
      for (const worker of workers) worker.cancelAllJobs('the demo is stopping');
      await Promise.all(workers.map((worker) => worker.close()));
      await seenn.close();
      if (redisInfo.server === undefined) await deletePrefix(connection, prefix);
      await connection.quit();
      await redisInfo.server?.stop();
      console.log('stopped.');
    })();
    return stopping;
  };
  const onSignal = (): void => {
    if (stopping !== undefined) {
      console.log('forced exit');
      process.exit(130);
    }
    void stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  console.log(`Redis: ${redisInfo.origin} (${redisInfo.url}), key prefix ${prefix}`);
  console.log(
    `Admin: http://localhost:${actualPort}/admin/ (bull-board at /admin/queues/, Prometheus metrics at /admin/metrics)`,
  );
  console.log(
    `Admin token: ${adminToken} (a browser asks for it: any user name, the token as password; scripts send Authorization: Bearer <token>)`,
  );
  console.log(`seenn-bullmq demo ready on http://localhost:${actualPort} (bridge at /v1). Ctrl-C stops it.`);

  if (smoke) {
    const ok = await runSmoke(baseUrl, jobLog, 60_000);
    await stop();
    process.exit(ok ? 0 : 1);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
