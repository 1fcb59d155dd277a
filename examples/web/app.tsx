/**
 * The demo page: start a "video" job or a 5-image batch and watch them live through the
 * seenn-bullmq client and its React hooks. `examples/demo.ts` bundles this file with esbuild.
 *
 * In your own app the imports read `from 'seenn-bullmq/client'` and `from 'seenn-bullmq/react'`;
 * here they point at the package's source, which the demo bundles for the browser.
 */
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { SeennClient, type SeennJob } from '../../src/client/index.js';
import {
  SeennProvider,
  useConnectionState,
  useEtaCountdown,
  useSeennJob,
  useSeennJobOutput,
  useSeennJobs,
  useSeennParent,
} from '../../src/client/react.js';

/** The stages the demo's video worker goes through. */
const VIDEO_STAGES = ['analysis', 'generation', 'rendering'];

/** A stable id for this browser: in a real app the user comes from your own login. */
function demoUserId(): string {
  const key = 'seenn-demo:userId';
  let userId = localStorage.getItem(key);
  if (userId === null) {
    userId = `visitor-${Math.random().toString(36).slice(2, 10)}`;
    localStorage.setItem(key, userId);
  }
  return userId;
}

async function postJson<T>(path: string, body: unknown): Promise<T> {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as T & { error?: { message?: string } };
  if (!response.ok) throw new Error(answer.error?.message ?? `${path} answered ${response.status}`);
  return answer;
}

const userId = demoUserId();
const client = new SeennClient({
  baseUrl: '/v1',
  userId,
  // Your backend issues the token (here the demo server calls `seenn.tokens.issue`); asked again on 401.
  token: async () => (await postJson<{ token: string }>('/demo/token', { userId })).token,
  // Resume after a page reload from the last event this tab saw.
  storage: localStorage,
});

function App() {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const { jobs, isLoading } = useSeennJobs({ limit: 20 });
  const topLevel = jobs.filter((job) => job.parent === undefined);

  const start = (kind: 'video' | 'batch' | 'story') => {
    setBusy(true);
    setProblem(undefined);
    postJson(`/demo/jobs/${kind}`, { userId })
      .catch((error: unknown) => setProblem(error instanceof Error ? error.message : String(error)))
      .finally(() => setBusy(false));
  };

  return (
    <main>
      <header>
        <h1>seenn-bullmq demo</h1>
        <ConnectionBadge />
      </header>
      <p className="lead">
        Each job runs on a real BullMQ worker. Its progress travels worker → BullMQ events → publisher → Redis → bridge
        (SSE) → this page. You are <code>{userId}</code>.
      </p>
      <div className="actions">
        <button type="button" data-testid="start-video" disabled={busy} onClick={() => start('video')}>
          Start a video job
        </button>
        <button type="button" data-testid="start-batch" disabled={busy} onClick={() => start('batch')}>
          Start a 5-image batch
        </button>
        <button type="button" data-testid="start-story" disabled={busy} onClick={() => start('story')}>
          Write a story
        </button>
      </div>
      {problem !== undefined && <p className="problem">{problem}</p>}
      <section className="jobs" aria-live="polite">
        {isLoading && topLevel.length === 0 && <p className="muted">Loading your jobs…</p>}
        {!isLoading && topLevel.length === 0 && <p className="muted">No jobs yet: start one above.</p>}
        {topLevel.map((job) =>
          job.children !== undefined ? (
            <BatchCard key={job.id} parentId={job.id} />
          ) : job.jobType === 'story' ? (
            <StoryCard key={job.id} jobId={job.id} />
          ) : (
            <JobCard key={job.id} jobId={job.id} />
          ),
        )}
      </section>
    </main>
  );
}

function ConnectionBadge() {
  const state = useConnectionState();
  return (
    <span className={`badge state-${state}`} data-testid="connection-state">
      {state}
    </span>
  );
}

function StatusBadge({ status }: { status: SeennJob['status'] | undefined }) {
  return <span className={`badge status-${status ?? 'unknown'}`}>{status ?? '…'}</span>;
}

function ProgressBar({ value, testId }: { value: number; testId: string }) {
  return (
    <div
      className="bar"
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={value}
      data-testid={testId}
    >
      <div className="fill" style={{ width: `${value}%` }} />
      <span className="pct">{value} %</span>
    </div>
  );
}

function Eta({ at, active }: { at: string | undefined; active: boolean }) {
  const { remainingSeconds, isPastDue } = useEtaCountdown(active ? at : undefined);
  if (!active || remainingSeconds === undefined) return null;
  return (
    <span className="eta" data-testid="eta">
      {isPastDue ? 'any moment now' : `about ${remainingSeconds} s left`}
    </span>
  );
}

function QueuePosition({ job }: { job: SeennJob }) {
  if (job.queue === undefined || (job.status !== 'queued' && job.status !== 'pending')) return null;
  const { position, total, state } = job.queue;
  return (
    <span className="queue" data-testid="queue-position">
      #{position}
      {total !== undefined ? ` of ${total}` : ''} in line{state !== undefined ? ` (${state})` : ''}
    </span>
  );
}

function StageSteps({ job }: { job: SeennJob }) {
  const current = job.status === 'completed' ? VIDEO_STAGES.length : (job.stage?.current ?? 0);
  return (
    <div className="stage">
      <ol className="steps">
        {VIDEO_STAGES.map((name, index) => {
          const step = index + 1;
          const state = step < current || job.status === 'completed' ? 'done' : step === current ? 'active' : 'todo';
          return (
            <li key={name} className={`step ${state}`}>
              <span className="dot">{state === 'done' ? '✓' : step}</span>
              <span className="name">{name}</span>
            </li>
          );
        })}
      </ol>
      <span className="stage-text" data-testid="stage">
        {job.stage !== undefined ? `Stage ${job.stage.current}/${job.stage.total} · ${job.stage.name}` : 'Stage –'}
      </span>
    </div>
  );
}

/** "Finished in 7.5 s", from the job's own timestamps. */
function finishedIn(job: SeennJob): string {
  const from = Date.parse(job.startedAt ?? job.createdAt);
  const to = Date.parse(job.completedAt ?? job.updatedAt);
  return Number.isNaN(from) || Number.isNaN(to) ? 'Finished' : `Finished in ${((to - from) / 1000).toFixed(1)} s`;
}

function JobCard({ jobId }: { jobId: string }) {
  const { job, status, progress, message, isTerminal, estimatedCompletionAt, result, jobError, cancel } =
    useSeennJob(jobId);
  const [cancelProblem, setCancelProblem] = useState<string | undefined>(undefined);
  if (job === undefined) return null;
  const url = typeof result?.['url'] === 'string' ? result['url'] : undefined;
  return (
    <article className="card" data-testid="job-card" data-job-id={job.id} data-status={status}>
      <div className="card-head">
        <h2>{job.title}</h2>
        <StatusBadge status={status} />
        {!isTerminal && (
          <button
            type="button"
            className="cancel"
            data-testid="cancel-job"
            onClick={() => {
              cancel({ reason: 'Cancelled from the demo page' }).catch((error: unknown) =>
                setCancelProblem(error instanceof Error ? error.message : String(error)),
              );
            }}
          >
            Cancel
          </button>
        )}
      </div>
      <ProgressBar value={progress} testId="progress" />
      <StageSteps job={job} />
      <div className="meta">
        <span className="message" data-testid="message">
          {status === 'completed' ? finishedIn(job) : (message ?? (status === 'queued' ? 'Waiting for a worker…' : ''))}
        </span>
        <QueuePosition job={job} />
        <Eta at={estimatedCompletionAt} active={!isTerminal && status === 'running'} />
      </div>
      {url !== undefined && status === 'completed' && (
        <p className="result">
          Result: <code>{url}</code>
        </p>
      )}
      {jobError !== undefined && <p className="problem">{jobError.message}</p>}
      {cancelProblem !== undefined && <p className="problem">{cancelProblem}</p>}
    </article>
  );
}

/** A story job: its text appears word by word as the worker appends it (`useSeennJobOutput`). */
function StoryCard({ jobId }: { jobId: string }) {
  const { job, status } = useSeennJob(jobId);
  const { text, chunks, done } = useSeennJobOutput(jobId);
  if (job === undefined) return null;
  return (
    <article
      className="card story"
      data-testid="story-card"
      data-job-id={job.id}
      data-status={status}
      data-done={String(done)}
    >
      <div className="card-head">
        <h2>{job.title}</h2>
        <StatusBadge status={status} />
      </div>
      <p className="story-text">
        <span data-testid="story-text">{text}</span>
        {!done && <span className="cursor">▍</span>}
      </p>
      <div className="meta">
        <span className="message" data-testid="story-words">
          {chunks.length} words{done ? ', the end' : ''}
        </span>
      </div>
    </article>
  );
}

function BatchCard({ parentId }: { parentId: string }) {
  const {
    parent,
    children,
    progress,
    status,
    childrenCompleted,
    childrenFailed,
    childrenTotal,
    isTerminal,
    estimatedCompletionAt,
  } = useSeennParent(parentId);
  if (parent === undefined) return null;
  return (
    <article className="card batch" data-testid="batch-card" data-job-id={parent.id} data-status={status}>
      <div className="card-head">
        <h2>{parent.title}</h2>
        <StatusBadge status={status} />
      </div>
      <ProgressBar value={progress} testId="batch-progress" />
      <div className="meta">
        <span data-testid="batch-counts">
          {childrenCompleted}/{childrenTotal} done{childrenFailed > 0 ? `, ${childrenFailed} failed` : ''}
        </span>
        <Eta at={estimatedCompletionAt} active={!isTerminal && status === 'running'} />
      </div>
      <ul className="children">
        {children.map((child) => (
          <li
            key={child.id}
            className={`child child-${child.status}`}
            data-testid="batch-child"
            data-status={child.status}
          >
            <span className="child-title">{child.title}</span>
            <div className="mini-bar">
              <div className="fill" style={{ width: `${child.progress}%` }} />
            </div>
            <span className="child-status">{child.status === 'running' ? `${child.progress} %` : child.status}</span>
          </li>
        ))}
      </ul>
    </article>
  );
}

const root = document.getElementById('root');
if (root === null) throw new Error('no #root element');
createRoot(root).render(
  <StrictMode>
    <SeennProvider client={client}>
      <App />
    </SeennProvider>
  </StrictMode>,
);
