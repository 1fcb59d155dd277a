// @vitest-environment happy-dom
/**
 * Reading job output from the client: `client.output(jobId)` yields every chunk once, in order,
 * across dropped connections (each reconnect resumes after the last chunk) and ends when the job ends;
 * `useSeennJobOutput` hands React `{ text, chunks, done }` at most once per animation frame.
 */
import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SeennClientError, type OutputChunkEvent } from '../../src/client/index.js';
import { SeennProvider, useSeennJobOutput } from '../../src/client/react.js';
import { hookClients, startHarness, type ClientHarness } from './harness.js';

let h: ClientHarness;
const { clientFor, closeAll } = hookClients(() => h);

beforeAll(async () => {
  h = await startHarness({ cors: true });
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  closeAll();
});

afterAll(async () => {
  await h.close();
});

const wait = { timeout: 10_000 };

describe('client.output', () => {
  it('yields every chunk once and in order across dropped connections, and ends when the job ends', async () => {
    const job = await h.seenn.jobs.start({ userId: 'out-u1', jobType: 'story', title: 'Story' });
    await job.appendOutput('w0');
    const client = clientFor('out-u1');
    const got: OutputChunkEvent[] = [];
    const reading = (async () => {
      for await (const chunk of client.output(job.id)) got.push(chunk);
    })();
    let written = 1;
    for (let round = 0; round < 3; round += 1) {
      for (let i = 0; i < 10; i += 1) await job.appendOutput(`w${written++}`);
      await vi.waitFor(() => expect(got.length).toBeGreaterThan(written - 5), wait);
      h.dropConnections();
    }
    for (let i = 0; i < 5; i += 1) await job.appendOutput(`w${written++}`);
    await job.complete();
    await reading;
    expect(got.map((chunk) => chunk.seq)).toEqual(Array.from({ length: written }, (_, i) => i));
    expect(got.map((chunk) => chunk.chunk)).toEqual(Array.from({ length: written }, (_, i) => `w${i}`));
    // Each reconnect asked for the chunks after the last one it had.
    const resumes = h.streamRequests
      .filter((request) => request.url.includes(`jobId=${job.id}`))
      .map((request) => Number(new URL(request.url, h.baseUrl).searchParams.get('outputAfter')));
    expect(resumes.length).toBeGreaterThanOrEqual(4);
    expect(resumes[0]).toBe(-1);
    expect(resumes).toEqual([...resumes].sort((a, b) => a - b));
  });

  it("reads a finished job's output to its end, and refuses someone else's job with NOT_FOUND", async () => {
    const job = await h.seenn.jobs.start({ userId: 'out-u2', jobType: 'story', title: 'Done story' });
    for (let i = 0; i < 1_500; i += 1) await job.appendOutput(i, { stream: 'tokens' });
    await job.complete();
    const seqs: number[] = [];
    for await (const chunk of clientFor('out-u2').output(job.id, { stream: 'tokens', after: 99 })) seqs.push(chunk.seq);
    expect(seqs).toEqual(Array.from({ length: 1_400 }, (_, i) => i + 100));
    const stranger = clientFor('out-u3').output(job.id, { stream: 'tokens' })[Symbol.asyncIterator]();
    await expect(stranger.next()).rejects.toSatisfy(
      (error: unknown) => error instanceof SeennClientError && error.code === 'NOT_FOUND',
    );
  });
});

function OutputView({ jobId }: { jobId: string }) {
  const { text, chunks, done } = useSeennJobOutput(jobId);
  const renders = (OutputView as { renders?: number }).renders ?? 0;
  (OutputView as { renders?: number }).renders = renders + 1;
  return (
    <div>
      <span data-testid="text">{text}</span>
      <span data-testid="count">{chunks.length}</span>
      <span data-testid="done">{String(done)}</span>
    </div>
  );
}

describe('useSeennJobOutput', () => {
  it('shows the text as it is written, one update per animation frame at most, and done at the end', async () => {
    const frames: FrameRequestCallback[] = [];
    let mostPending = 0;
    vi.stubGlobal('requestAnimationFrame', (callback: FrameRequestCallback) => {
      mostPending = Math.max(mostPending, frames.push(callback));
      return frames.length;
    });
    vi.stubGlobal('cancelAnimationFrame', () => undefined);
    const renders = (): number => (OutputView as { renders?: number }).renders ?? 0;
    /** Runs the frame the hook asked for: exactly one render follows. */
    const runFrame = (): void => {
      const due = frames.splice(0);
      const before = renders();
      act(() => {
        for (const callback of due) callback(performance.now());
      });
      expect(renders()).toBe(before + 1);
    };
    const job = await h.seenn.jobs.start({ userId: 'out-u4', jobType: 'story', title: 'Hook story' });
    render(
      <SeennProvider client={clientFor('out-u4')} connect={false}>
        <OutputView jobId={job.id} />
      </SeennProvider>,
    );
    const words = 'Once upon a time there was a queue that told its users everything'.split(' ');
    for (const word of words.slice(0, 8)) await job.appendOutput(`${word} `);
    // However many chunks arrive, React hears of them only when a frame runs, once per frame.
    let frameRuns = 0;
    while (screen.getByTestId('count').textContent !== '8') {
      await waitFor(() => expect(frames.length).toBe(1), wait);
      runFrame();
      frameRuns += 1;
    }
    expect(frameRuns).toBeLessThanOrEqual(8);
    for (const word of words.slice(8)) await job.appendOutput(`${word} `);
    await job.complete();
    while (screen.getByTestId('done').textContent !== 'true') {
      await waitFor(() => expect(frames.length).toBe(1), wait);
      runFrame();
    }
    expect(mostPending).toBe(1);
    expect(screen.getByTestId('text').textContent).toBe(words.map((word) => `${word} `).join(''));
    expect(screen.getByTestId('count').textContent).toBe(String(words.length));
  });
});
