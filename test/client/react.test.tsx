// @vitest-environment happy-dom
/**
 * The React hooks rendered in a DOM (happy-dom, whose `fetch` streams and enforces CORS like a
 * browser) against a real bridge, worker and publisher.
 */
import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  SeennProvider,
  useConnectionState,
  useEtaCountdown,
  useSeennJob,
  useSeennJobs,
  useSeennParent,
} from '../../src/client/react.js';
import { hookClients, startHarness, type ClientHarness } from './harness.js';

let h: ClientHarness;
const { clientFor, closeAll } = hookClients(() => h);

beforeAll(async () => {
  h = await startHarness({ cors: true });
});

afterEach(() => {
  cleanup();
  closeAll();
});

afterAll(async () => {
  await h.close();
});

const wait = { timeout: 10_000 };

function JobView({ jobId }: { jobId: string | null }) {
  const state = useSeennJob(jobId);
  const connection = useConnectionState();
  return (
    <div>
      <span data-testid="connection">{connection}</span>
      <span data-testid="loading">{String(state.isLoading)}</span>
      <span data-testid="status">{state.status ?? 'none'}</span>
      <span data-testid="progress">{state.progress}</span>
      <span data-testid="stage">{state.stage === undefined ? '-' : `${state.stage.current}/${state.stage.total}`}</span>
      <span data-testid="message">{state.message ?? ''}</span>
      <span data-testid="terminal">{String(state.isTerminal)}</span>
      <span data-testid="error">{state.error?.code ?? ''}</span>
      <span data-testid="renders">{String(state.job?.updatedAt)}</span>
    </div>
  );
}

function JobsView() {
  const { jobs, isLoading } = useSeennJobs({ limit: 10 });
  return (
    <div>
      <span data-testid="jobs-loading">{String(isLoading)}</span>
      <ul>
        {jobs.map((job) => (
          <li key={job.id} data-testid="row">
            {job.title}:{job.status}:{job.progress}
          </li>
        ))}
      </ul>
    </div>
  );
}

function ParentView({ parentId }: { parentId: string }) {
  const { parent, children, progress, status, childrenCompleted, childrenTotal, allChildrenDone } =
    useSeennParent(parentId);
  return (
    <div>
      <span data-testid="parent">{parent === undefined ? 'none' : `${parent.title}:${status}:${progress}`}</span>
      <span data-testid="counts">
        {childrenCompleted}/{childrenTotal}:{String(allChildrenDone)}
      </span>
      <ul>
        {children.map((child) => (
          <li key={child.id} data-testid="child">
            {child.childIndex}:{child.title}:{child.status}:{child.progress}
          </li>
        ))}
      </ul>
    </div>
  );
}

describe('React hooks against a real bridge', () => {
  it('useSeennJob loads a job, then follows it live to completed with its stage and message', async () => {
    const user = 'hook-user';
    const job = await h.startJob(user, 'Hooked', 3);
    const client = clientFor(user);
    render(
      <SeennProvider client={client}>
        <JobView jobId={job.id} />
      </SeennProvider>,
    );
    await waitFor(() => expect(screen.getByTestId('connection').textContent).toBe('open'), wait);
    await waitFor(() => expect(screen.getByTestId('loading').textContent).toBe('false'), wait);
    expect(['queued', 'running']).toContain(screen.getByTestId('status').textContent);

    h.allow(job.id, 1);
    await waitFor(() => expect(screen.getByTestId('progress').textContent).toBe('33'), wait);
    expect(screen.getByTestId('stage').textContent).toBe('1/3');
    expect(screen.getByTestId('message').textContent).toBe('step 1');
    expect(screen.getByTestId('status').textContent).toBe('running');

    h.allow(job.id, 3);
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('completed'), wait);
    expect(screen.getByTestId('progress').textContent).toBe('100');
    expect(screen.getByTestId('terminal').textContent).toBe('true');
    expect(client.isWatching(job.id)).toBe(false);
  });

  it('useSeennJob reports NOT_FOUND for a job that is not the user’s, and waits while the id is null', async () => {
    const job = await h.startJob('someone-else', 'Not yours', 1);
    const client = clientFor('hook-stranger');
    const { rerender } = render(
      <SeennProvider client={client}>
        <JobView jobId={null} />
      </SeennProvider>,
    );
    expect(screen.getByTestId('loading').textContent).toBe('false');
    expect(screen.getByTestId('status').textContent).toBe('none');
    rerender(
      <SeennProvider client={client}>
        <JobView jobId={job.id} />
      </SeennProvider>,
    );
    await waitFor(() => expect(screen.getByTestId('error').textContent).toBe('NOT_FOUND'), wait);
    expect(screen.getByTestId('loading').textContent).toBe('false');
    expect(screen.getByTestId('status').textContent).toBe('none');
    h.allow(job.id, 1);
  });

  it('useSeennJobs lists the user’s jobs and adds a job started after mount, live', async () => {
    const user = 'hook-list-user';
    const first = await h.startJob(user, 'First', 1);
    const client = clientFor(user);
    render(
      <SeennProvider client={client}>
        <JobsView />
      </SeennProvider>,
    );
    await waitFor(() => expect(screen.getByTestId('jobs-loading').textContent).toBe('false'), wait);
    await waitFor(
      () =>
        expect(screen.getAllByTestId('row').map((row) => row.textContent)).toEqual([
          expect.stringMatching(/^First:(queued|running):0$/),
        ]),
      wait,
    );

    const second = await h.startJob(user, 'Second', 1);
    await waitFor(() => expect(screen.getAllByTestId('row')).toHaveLength(2), wait);
    h.allow(second.id, 1);
    h.allow(first.id, 1);
    await waitFor(
      () =>
        expect(screen.getAllByTestId('row').map((row) => row.textContent)).toEqual([
          'Second:completed:100',
          'First:completed:100',
        ]),
      wait,
    );
  });

  it('useSeennParent shows a batch’s parent and children, live, until every child is done', async () => {
    const user = 'hook-parent-user';
    const batch = await h.startBatch(user, 'Three pictures', ['one', 'two', 'three'], 2);
    const client = clientFor(user);
    render(
      <SeennProvider client={client}>
        <ParentView parentId={batch.parent.id} />
      </SeennProvider>,
    );
    await waitFor(
      () =>
        expect(screen.getAllByTestId('child').map((row) => row.textContent)).toEqual([
          expect.stringMatching(/^0:one:/),
          expect.stringMatching(/^1:two:/),
          expect.stringMatching(/^2:three:/),
        ]),
      wait,
    );
    expect(screen.getByTestId('parent').textContent).toMatch(/^Three pictures:(pending|running):0$/);
    expect(screen.getByTestId('counts').textContent).toBe('0/3:false');

    const [one, two, three] = batch.children;
    if (one === undefined || two === undefined || three === undefined) throw new Error('expected three children');
    h.allow(one.id, 1);
    await waitFor(() => expect(screen.getAllByTestId('child')[0]?.textContent).toBe('0:one:running:50'), wait);
    h.allow(one.id, 2);
    await waitFor(() => expect(screen.getAllByTestId('child')[0]?.textContent).toBe('0:one:completed:100'), wait);
    await waitFor(() => expect(screen.getByTestId('counts').textContent).toBe('1/3:false'), wait);
    expect(screen.getByTestId('parent').textContent).toBe('Three pictures:running:33');

    h.allow(two.id, 2);
    h.allow(three.id, 2);
    await waitFor(() => expect(screen.getByTestId('parent').textContent).toBe('Three pictures:completed:100'), wait);
    await waitFor(
      () =>
        expect(screen.getAllByTestId('child').map((row) => row.textContent)).toEqual([
          '0:one:completed:100',
          '1:two:completed:100',
          '2:three:completed:100',
        ]),
      wait,
    );
    expect(screen.getByTestId('counts').textContent).toBe('3/3:true');
  });

  it('useEtaCountdown counts down to estimatedCompletionAt', async () => {
    function Countdown({ at }: { at: string }) {
      const { remainingSeconds, isPastDue } = useEtaCountdown(at, 50);
      return <span data-testid="eta">{isPastDue ? 'due' : String(remainingSeconds)}</span>;
    }
    const at = new Date(Date.now() + 1_500).toISOString();
    await act(async () => {
      render(<Countdown at={at} />);
    });
    const first = Number(screen.getByTestId('eta').textContent);
    expect(first).toBeGreaterThanOrEqual(1);
    expect(first).toBeLessThanOrEqual(2);
    await waitFor(() => expect(screen.getByTestId('eta').textContent).toBe('due'), wait);
  });
});
