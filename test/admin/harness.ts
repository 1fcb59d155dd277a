/**
 * Admin route test bed: a Seenn over a fresh prefix, the admin router mounted at `/admin` (or
 * elsewhere) on a real HTTP server (port 0), a logger that keeps every line, and a small HTTP client.
 */
import express from 'express';
import type { Redis } from 'ioredis';
import { createAdminRouter, type AdminRouter, type ExpressAdminOptions } from '../../src/admin/index.js';
import type { ModuleLoader } from '../../src/admin/board.js';
import { Seenn } from '../../src/seenn.js';
import { closeOnce, listen } from '../helpers/http-bed.js';
import { capturingLogger } from '../helpers/logger.js';
import { connect, uniquePrefix } from '../helpers/redis.js';

/** The admin token of every test bed (never expected in a log line). */
export const ADMIN_TOKEN = 'adm1n-T0ken-for-tests-0123456789-abcdefghij';

/** A Seenn with admin routers on a real HTTP server. */
export interface AdminBed {
  seenn: Seenn;
  redis: Redis;
  prefix: string;
  logLines: string[];
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Mounts another admin router at `path` (built with `seenn.admin`, or `createAdminRouter` when `load` is given). */
  mount(path: string, options: ExpressAdminOptions, load?: ModuleLoader): AdminRouter;
  close(): Promise<void>;
}

/** Starts a Seenn and an Express app (routers are mounted with `bed.mount`) on a free port. */
export async function startBed(): Promise<AdminBed> {
  const prefix = uniquePrefix('adm');
  const redis = connect();
  const logLines: string[] = [];
  const seenn = new Seenn({ connection: redis, prefix, logger: capturingLogger(logLines) });
  const app = express();
  const { server, origin } = await listen(app);
  return {
    seenn,
    redis,
    prefix,
    logLines,
    origin,
    mount(path, options, load) {
      const router =
        load === undefined ? seenn.admin(options) : createAdminRouter(seenn.context, seenn.jobs, options, load);
      app.use(path, router);
      return router;
    },
    close: closeOnce({ seenn, server, redis, prefix }),
  };
}

/** An HTTP answer, its body parsed as JSON when it is JSON. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown>;
}

/** Sends a request; `token` goes in `Authorization: Bearer`. */
export async function call(
  url: string,
  options: { token?: string; method?: string; headers?: Record<string, string>; json?: unknown } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  const init: RequestInit = { method: options.method ?? 'GET', headers };
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(options.json);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  const isJson = (response.headers.get('content-type') ?? '').startsWith('application/json');
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: isJson && text !== '' ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

/** Asserts-friendly view of an error envelope: `{ code, message, details }`, or `null` when not one. */
export function envelope(answer: Answer): { code: string; message: string; details: Record<string, unknown> } | null {
  const error = answer.body['error'] as { code?: unknown; message?: unknown; details?: unknown } | undefined;
  if (
    error === undefined ||
    typeof error.code !== 'string' ||
    typeof error.message !== 'string' ||
    typeof error.details !== 'object' ||
    error.details === null
  )
    return null;
  return { code: error.code, message: error.message, details: error.details as Record<string, unknown> };
}
