/**
 * The app the security tests attack, built as the README shows: one Seenn, the bridge at `/v1`, the
 * admin route at `/admin` (with bull-board), on a real HTTP server (port 0). Behind them the app's
 * own last handlers mark what fell through (`{ fellThrough: true }`) and record any error that
 * reached the app (answered with 599, so a property sees it). Jobs of several users are written
 * through the real store; each job's title carries a marker naming its user, so any answer can be
 * searched for another user's data.
 */
import http from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import type { ExpressBridgeOptions } from '../../src/bridge/index.js';
import { Seenn } from '../../src/seenn.js';
import { JobWriter, SECRET } from '../bridge/helpers.js';
import { closeOnce, listen } from '../helpers/http-bed.js';
import { connect, uniquePrefix } from '../helpers/redis.js';

/** The admin token of the attacked app. */
export const ADMIN_TOKEN = 'sec-admin-token-0123456789-abcdefghijklmnop';

/** The marker in the titles (and so in every answer) of `user`'s jobs. */
export function markerOf(user: string): string {
  return `MARK<${user}>`;
}

/** The attacked app. */
export interface TargetApp {
  seenn: Seenn;
  redis: Redis;
  writer: JobWriter;
  port: number;
  origin: string;
  /** Errors that reached the app's own error handler (must stay empty). */
  appErrors: unknown[];
  /** The job ids of each user. */
  jobsOf: Map<string, string[]>;
  /** The user of each job id. */
  ownerOf: Map<string, string>;
  close(): Promise<void>;
}

/**
 * Starts the app and writes `jobsPerUser` jobs for each of `users` (titles carry {@link markerOf}).
 */
export async function startTargetApp(
  users: readonly string[],
  jobsPerUser: number,
  bridgeOptions: ExpressBridgeOptions = {},
): Promise<TargetApp> {
  const prefix = uniquePrefix('sec');
  const redis = connect();
  const seenn = new Seenn({ connection: redis, prefix, tokenSecret: SECRET });
  const queue = 'sec-q';
  const app = express();
  app.use(
    '/v1',
    seenn.bridge({
      heartbeatMs: 1_000,
      retryMs: 50,
      retryJitterMs: 50,
      rateLimit: null,
      connectRateLimit: null,
      maxStreamsPerUser: 10_000,
      ...bridgeOptions,
    }),
  );
  app.use('/admin', seenn.admin({ auth: { token: ADMIN_TOKEN }, queues: [queue] }));
  app.use((_req: Request, res: Response) => {
    res.status(404).json({ fellThrough: true });
  });
  const appErrors: unknown[] = [];
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    appErrors.push(error);
    if (res.headersSent) res.destroy();
    else res.status(599).json({ appError: String(error) });
  });
  const { server, port, origin } = await listen(app);

  const writer = new JobWriter(seenn);
  const jobsOf = new Map<string, string[]>();
  const ownerOf = new Map<string, string>();
  for (const user of users) {
    const ids: string[] = [];
    for (let n = 0; n < jobsPerUser; n += 1) {
      const id = `${user}-job-${n}`;
      await writer.create(user, id);
      await writer.progress(id, 10 * (n + 1), `${markerOf(user)} step ${n}`);
      // Output too (job.output, GET /jobs/:id/output), carrying the user's marker.
      await seenn.jobs.handle(id).appendOutput(`${markerOf(user)} output ${n}`);
      ids.push(id);
      ownerOf.set(id, user);
    }
    jobsOf.set(user, ids);
  }

  return {
    seenn,
    redis,
    writer,
    port,
    origin,
    appErrors,
    jobsOf,
    ownerOf,
    close: closeOnce({ seenn, server, redis, prefix }),
  };
}

/** An answer as the raw client saw it. */
export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Whether the body was cut off after `streamWindowMs` (an event stream). */
  cut: boolean;
}

/**
 * Sends one request exactly as given (method, target, headers, body) and collects the answer; an
 * event stream is read for `streamWindowMs` after its head, then the socket is closed.
 */
export function rawRequest(
  port: number,
  request: { method: string; target: string; headers: Record<string, string>; body?: Buffer },
  streamWindowMs = 60,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: request.method,
      path: request.target,
      headers: request.headers,
      agent: false,
      setHost: !Object.keys(request.headers).some((name) => name.toLowerCase() === 'host'),
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${request.method} ${request.target} in 10 s`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let cut = false;
      const stream = String(res.headers['content-type'] ?? '').startsWith('text/event-stream');
      const timer = stream
        ? setTimeout(() => {
            cut = true;
            res.destroy();
          }, streamWindowMs)
        : undefined;
      const finish = (): void => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          cut,
        });
      };
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', () => undefined);
    });
    req.end(request.body);
  });
}
