/**
 * The demo page in headless Chromium (Debian's `/usr/bin/chromium`, driven by playwright-core): the
 * page loads the client bundle the demo built, connects to the bridge, starts a video job and watches
 * it reach 100 % and stage 3/3; a second job shows its place in the queue; a 5-image batch shows
 * its children and the parent's progress; a story is written word by word and a reload mid-story
 * shows it whole, with no word missing or doubled. Screenshots go to `test-output/`.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../helpers/redis.js';
import { DEMO_STORY, storyChunks } from '../../examples/lib/demo-workers.js';
import { startDemo, type DemoProcess } from './demo-process.js';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = 'test-output';

let demo: DemoProcess;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)`);
  mkdirSync(OUTPUT, { recursive: true });
  demo = await startDemo({ DEMO_WORD_MS: '100' });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await demo?.stop();
});

async function openPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  await page.goto(demo.url);
  await page.getByTestId('connection-state').filter({ hasText: 'open' }).waitFor({ timeout: 15_000 });
  expect(problems).toEqual([]);
  return page;
}

describe('the demo page in Chromium', () => {
  it('starts a video job and shows it live until 100 % and stage 3/3', async () => {
    const page = await openPage();
    await page.getByTestId('start-video').click();
    const card = page.getByTestId('job-card').first();
    await card.waitFor({ timeout: 10_000 });

    // While it runs: a stage between 1 and 3, a message, and an ETA counting down.
    await page.locator('[data-testid="job-card"][data-status="running"]').first().waitFor({ timeout: 10_000 });
    await card.getByTestId('eta').waitFor({ timeout: 10_000 });
    expect(await card.getByTestId('message').textContent()).not.toBe('');
    const seenProgress = new Set<number>();
    const progressbar = card.getByRole('progressbar');
    await page.waitForFunction(
      () => {
        const bar = document.querySelector('[data-testid="job-card"] [role="progressbar"]');
        return (
          bar !== null &&
          Number(bar.getAttribute('aria-valuenow')) > 0 &&
          Number(bar.getAttribute('aria-valuenow')) < 100
        );
      },
      undefined,
      { timeout: 10_000 },
    );
    seenProgress.add(Number(await progressbar.getAttribute('aria-valuenow')));
    await page.screenshot({ path: `${OUTPUT}/demo-video-running.png`, fullPage: true });

    await page.locator('[data-testid="job-card"][data-status="completed"]').first().waitFor({ timeout: 20_000 });
    expect(await progressbar.getAttribute('aria-valuenow')).toBe('100');
    expect(await card.getByTestId('stage').textContent()).toBe('Stage 3/3 · rendering');
    expect(await card.locator('.step.done').count()).toBe(3);
    expect([...seenProgress].every((value) => value > 0 && value < 100)).toBe(true);
    await page.screenshot({ path: `${OUTPUT}/demo-video.png`, fullPage: true });
    await page.close();
  });

  it('shows a waiting job its place in the queue, pushed live by the bridge, until a worker takes it', async () => {
    const page = await openPage();
    await page.getByTestId('start-video').click();
    await page.locator('[data-testid="job-card"][data-status="running"]').waitFor({ timeout: 10_000 });
    await page.getByTestId('start-video').click();
    // No reload: the bridge watches the queued job and sends its position as it is computed.
    const waiting = page.locator('[data-testid="job-card"][data-status="queued"]');
    await waiting.getByTestId('queue-position').waitFor({ timeout: 10_000 });
    expect(await waiting.getByTestId('queue-position').textContent()).toMatch(/^#1 of 1 in line$/);
    expect(await waiting.getByTestId('message').textContent()).toBe('Waiting for a worker…');
    await page.screenshot({ path: `${OUTPUT}/demo-queue.png`, fullPage: true });
    await page.locator('[data-testid="job-card"][data-status="completed"]').nth(1).waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('queue-position').count()).toBe(0);
    await page.close();
  });

  it('cancels a running video job with its Cancel button: the card shows it cancelled, with the reason', async () => {
    const page = await openPage();
    await page.getByTestId('start-video').click();
    const running = page.locator('[data-testid="job-card"][data-status="running"]').first();
    await running.waitFor({ timeout: 10_000 });
    const jobId = await running.getAttribute('data-job-id');
    await running.getByTestId('cancel-job').click();
    const card = page.locator(`[data-testid="job-card"][data-job-id="${jobId ?? ''}"]`);
    await page
      .locator(`[data-testid="job-card"][data-job-id="${jobId ?? ''}"][data-status="cancelled"]`)
      .waitFor({ timeout: 10_000 });
    expect(await card.getByTestId('cancel-job').count()).toBe(0);
    expect(await card.getByTestId('message').textContent()).toBe('Cancelled from the demo page');
    await page.screenshot({ path: `${OUTPUT}/demo-cancelled.png`, fullPage: true });
    await page.close();
  });

  it('starts a 5-image batch and shows its children and the parent’s progress live', async () => {
    const page = await openPage();
    await page.getByTestId('start-batch').click();
    const card = page.getByTestId('batch-card').first();
    await card.waitFor({ timeout: 10_000 });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="batch-child"]').length === 5, undefined, {
      timeout: 10_000,
    });
    expect(await card.getByTestId('batch-child').allTextContents()).toEqual(
      expect.arrayContaining([expect.stringContaining('Image 1'), expect.stringContaining('Image 5')]),
    );

    // Part-way: some children done, the parent between 0 and 100 %.
    await page.waitForFunction(
      () => {
        const counts = document.querySelector('[data-testid="batch-counts"]')?.textContent ?? '';
        const bar = document.querySelector('[data-testid="batch-progress"]');
        const value = Number(bar?.getAttribute('aria-valuenow'));
        return /^[1-4]\/5 done/.test(counts) && value > 0 && value < 100;
      },
      undefined,
      { timeout: 15_000 },
    );
    await page.screenshot({ path: `${OUTPUT}/demo-batch-running.png`, fullPage: true });

    await page.locator('[data-testid="batch-card"][data-status="completed"]').waitFor({ timeout: 20_000 });
    expect(await card.getByTestId('batch-progress').getAttribute('aria-valuenow')).toBe('100');
    expect(await card.getByTestId('batch-counts').textContent()).toBe('5/5 done');
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('[data-testid="batch-child"]')].every(
          (row) => row.getAttribute('data-status') === 'completed',
        ),
      undefined,
      {
        timeout: 10_000,
      },
    );
    await page.screenshot({ path: `${OUTPUT}/demo-batch.png`, fullPage: true });
    await page.close();
  });

  it('writes a story word by word; after a reload mid-story the page shows it whole, no word missing or doubled', async () => {
    const page = await openPage();
    await page.getByTestId('start-story').click();
    const card = page.getByTestId('story-card').first();
    await card.waitFor({ timeout: 10_000 });
    const jobId = (await card.getAttribute('data-job-id')) ?? '';
    const words = storyChunks().length;
    await page.waitForFunction(
      () => (document.querySelector('[data-testid="story-text"]')?.textContent ?? '').split(' ').length >= 10,
      undefined,
      { timeout: 15_000 },
    );
    const before = (await card.getByTestId('story-text').textContent()) ?? '';
    expect(DEMO_STORY.startsWith(before)).toBe(true);
    expect(before.split(' ').length).toBeLessThan(words);
    expect(await card.getAttribute('data-done')).toBe('false');
    await page.screenshot({ path: `${OUTPUT}/demo-story-writing.png`, fullPage: true });

    await page.reload();
    await page.getByTestId('connection-state').filter({ hasText: 'open' }).waitFor({ timeout: 15_000 });
    const again = page.locator(`[data-testid="story-card"][data-job-id="${jobId}"]`);
    await again.getByTestId('story-text').waitFor({ timeout: 10_000 });
    // Every text the card shows from now on, as it grows.
    await page.evaluate(() => {
      const target = document.querySelector('[data-testid="story-text"]');
      const seen: string[] = [target?.textContent ?? ''];
      (window as unknown as { storyTexts: string[] }).storyTexts = seen;
      if (target !== null)
        new MutationObserver(() => seen.push(target.textContent ?? '')).observe(target, {
          childList: true,
          characterData: true,
          subtree: true,
        });
    });
    await page
      .locator(`[data-testid="story-card"][data-job-id="${jobId}"][data-done="true"]`)
      .waitFor({ timeout: 30_000 });
    expect(await again.getByTestId('story-text').textContent()).toBe(DEMO_STORY);
    expect(await again.getByTestId('story-words').textContent()).toBe(`${words} words, the end`);
    const texts = await page.evaluate(() => (window as unknown as { storyTexts: string[] }).storyTexts);
    expect(texts.length).toBeGreaterThan(1);
    for (const text of texts) expect(DEMO_STORY.startsWith(text)).toBe(true);
    await page.screenshot({ path: `${OUTPUT}/demo-story.png`, fullPage: true });
    await page.close();
  });

  it('stops on SIGINT, exits 0 and leaves no keys behind', async () => {
    const code = await demo.stop();
    expect(code).toBe(0);
    expect(demo.output()).toContain('stopped.');
    expect(demo.prefix).toMatch(/^seenn-demo-[0-9a-f]{8}$/);
    const redis = connect();
    try {
      const left: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${demo.prefix}:*`, 'COUNT', 1_000);
        cursor = next;
        left.push(...keys);
      } while (cursor !== '0');
      expect(left).toEqual([]);
    } finally {
      await redis.quit();
    }
  });
});
