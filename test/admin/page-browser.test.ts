/**
 * The Seenn admin page in headless Chromium (Debian's `/usr/bin/chromium`, driven by playwright-core):
 * behind the admin auth (HTTP Basic with the token, as a browser does it), it lists the queue with
 * its lease holder and lag and the live bridge; the user lookup lists a user's jobs and follows one
 * live from queued to running to completed without a reload; titles are shown as text, never as
 * HTML; the strict CSP raises no violation. Screenshots go to `test-output/`.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'bullmq';
import express from 'express';
import type { Redis } from 'ioredis';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Seenn } from '../../src/seenn.js';
import type { SeennWorkerJob } from '../../src/worker/index.js';
import { SECRET } from '../bridge/helpers.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';
import { ADMIN_TOKEN } from './harness.js';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = 'test-output';
const QUEUE = 'renders';

let redis: Redis;
let workerRedis: Redis;
let prefix: string;
let seenn: Seenn;
let server: http.Server;
let origin: string;
let browser: Browser;
let worker: Worker | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)`);
  mkdirSync(OUTPUT, { recursive: true });
  redis = connect();
  workerRedis = connect();
  prefix = uniquePrefix('page');
  seenn = new Seenn({ connection: redis, prefix, tokenSecret: SECRET, metrics: false });
  await seenn.publisher({ queues: [QUEUE], blockMs: 100 }).start();
  const app = express();
  app.use('/v1', seenn.bridge());
  app.use('/admin', seenn.admin({ auth: { token: ADMIN_TOKEN }, queues: [QUEUE] }));
  server = http.createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await worker?.close();
  await seenn?.close();
  server?.closeAllConnections();
  server?.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
  await workerRedis.quit();
});

/** Opens the admin page as a signed-in ops person; `problems` collects page errors and console errors (CSP violations among them). */
async function openAdmin(path = '/admin'): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({
    viewport: { width: 1200, height: 900 },
    httpCredentials: { username: 'ops', password: ADMIN_TOKEN },
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  const response = await page.goto(`${origin}${path}`);
  expect(response?.status()).toBe(200);
  return { page, problems };
}

describe('the Seenn admin page in Chromium', () => {
  it('needs the admin credentials', async () => {
    const context = await browser.newContext();
    const response = await context.request.get(`${origin}/admin`);
    expect(response.status()).toBe(401);
    expect(response.headers()['www-authenticate']).toContain('Basic');
    await context.close();
  });

  it('shows the queue with its lease holder and lag, and the live bridge; refreshes on its own', async () => {
    const { page, problems } = await openAdmin();
    const row = page.locator('#queues tr[data-queue="renders"]');
    await row.waitFor();
    // The publisher of this process holds every partition: the page names the holder as Redis has it.
    const holder = await redis.get(seenn.context.keys.lease(QUEUE, 0));
    expect(holder).not.toBeNull();
    await row
      .locator('td')
      .nth(8)
      .filter({ hasText: holder as string })
      .waitFor({ timeout: 10_000 });
    expect(await row.locator('td').nth(9).textContent()).toBe('caught up');
    await page
      .locator('#bridges tbody tr')
      .filter({ hasText: `:${process.pid}:` })
      .first()
      .waitFor({ timeout: 10_000 });
    // The page refreshes by itself (the "updated" stamp appears after the first poll).
    await page.locator('#updated').filter({ hasText: 'updated' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('a', { hasText: 'bull-board' }).getAttribute('href')).toBe('/admin/queues/');
    expect(problems).toEqual([]);
    await page.screenshot({ path: `${OUTPUT}/admin-page.png`, fullPage: true });
    await page.context().close();
  });

  it('looks a user up and follows one of their jobs live, queued → running → completed; titles stay text', async () => {
    const hostile = '<img src=x onerror="alert(1)">';
    await seenn.jobs.start({ queue: QUEUE, userId: 'alice', jobType: 'render', title: hostile });
    const job = await seenn.jobs.start({
      queue: QUEUE,
      userId: 'alice',
      jobType: 'render',
      title: 'Holiday video',
      data: { hold: true },
    });
    const { page, problems } = await openAdmin();
    await page.locator('#user').fill('alice');
    await page.locator('#lookup button').click();
    const row = page.locator(`#jobs tr[data-job="${job.id}"]`);
    await row.waitFor({ timeout: 10_000 });
    expect(page.url()).toContain('user=alice');
    await row.locator('td.status', { hasText: 'queued' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('#jobs tbody tr').count()).toBe(2);
    expect(await page.locator('#jobs tbody').textContent()).toContain(hostile);
    expect(await page.locator('#jobs img').count()).toBe(0);

    // A worker takes the jobs; the test holds the one it follows at 40 % until it has seen it running.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    worker = new Worker(
      QUEUE,
      seenn.processor(async (running: SeennWorkerJob<{ hold?: boolean }>) => {
        if (running.data.hold === true) {
          await running.setProgress(40, { message: 'encoding', stage: { name: 'encode', current: 2, total: 3 } });
          await held;
        }
        return { url: 'https://example.test/video.mp4' };
      }),
      { connection: workerRedis, prefix, concurrency: 2 },
    );
    await row.locator('td.status', { hasText: 'running' }).waitFor({ timeout: 15_000 });
    await row.locator('td', { hasText: 'encode 2/3 · encoding' }).waitFor({ timeout: 10_000 });
    expect(await row.locator('td').nth(3).textContent()).toBe('40 %');
    await page.screenshot({ path: `${OUTPUT}/admin-user-running.png`, fullPage: true });
    release();
    await row.locator('td.status', { hasText: 'completed' }).waitFor({ timeout: 15_000 });
    expect(await row.locator('td').nth(3).textContent()).toBe('100 %');
    expect(problems).toEqual([]);
    await page.screenshot({ path: `${OUTPUT}/admin-user.png`, fullPage: true });
    await page.context().close();
  });

  it('a lookup link (?user=) is rendered by the server too, and an invalid id says so', async () => {
    const { page, problems } = await openAdmin('/admin/?user=alice');
    expect(await page.locator('#jobs tbody tr').count()).toBe(2);
    const bad = await openAdmin(`/admin/?user=${encodeURIComponent('x'.repeat(300))}`);
    expect(await bad.page.locator('#user-note').textContent()).toContain('not a valid user id');
    // The page does not poll an id the server refused: by the first overview refresh the user list
    // (polled twice as often) would have been asked for once at least.
    const userPolls: string[] = [];
    bad.page.on('request', (request) => {
      if (request.url().includes('/api/users/')) userPolls.push(request.url());
    });
    await bad.page.waitForResponse((response) => response.url().includes('/api/queues'), { timeout: 10_000 });
    expect(userPolls).toEqual([]);
    expect([...problems, ...bad.problems]).toEqual([]);
    await page.context().close();
    await bad.page.context().close();
  });
});
