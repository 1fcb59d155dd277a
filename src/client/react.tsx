/**
 * `seenn-bullmq/react`: React hooks over a {@link SeennClient}. Put a `SeennProvider` near the root,
 * then `useSeennJob(id)`, `useSeennJobs()` and `useSeennParent(id)` re-render live as the bridge
 * pushes changes. React ≥ 18 is an optional peer dependency of the package.
 */
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from 'react';
import {
  childSummaryOf,
  type ChildJobSummary,
  type JobError,
  type QueueInfo,
  type SeennJob,
  type Stage,
} from '../model/wire.js';
import type { ConnectionState, SeennClient } from './client.js';
import { SeennClientError } from './errors.js';
import { isFinished } from './job-cache.js';
import type { OutputChunkEvent } from './output.js';

const ClientContext = createContext<SeennClient | null>(null);

/** Props of {@link SeennProvider}. */
export interface SeennProviderProps {
  /** The client the hooks below use. The provider never closes it: the app owns it. */
  client: SeennClient;
  /** Call `client.connect()` when the provider mounts. @defaultValue true */
  connect?: boolean;
  children?: ReactNode;
}

/** Gives `client` to the hooks below it, and connects it unless `connect` is `false`. */
export function SeennProvider({ client, connect = true, children }: SeennProviderProps): ReactNode {
  useEffect(() => {
    if (connect) client.connect();
  }, [client, connect]);
  return <ClientContext.Provider value={client}>{children}</ClientContext.Provider>;
}

/** The client of the nearest {@link SeennProvider}; throws when there is none. */
export function useSeennClient(): SeennClient {
  const client = useContext(ClientContext);
  if (client === null) throw new Error('useSeennClient: wrap your components in <SeennProvider client={...}>');
  return client;
}

/** The client's connection state, live. */
export function useConnectionState(): ConnectionState {
  const client = useSeennClient();
  const subscribe = useCallback((onChange: () => void) => client.on('state', onChange), [client]);
  return useSyncExternalStore(
    subscribe,
    () => client.state,
    () => client.state,
  );
}

/** What {@link useSeennJob} returns. Fields other than `job` are read from it for convenience. */
export interface SeennJobState {
  /** The job, once known. */
  job: SeennJob | undefined;
  status: SeennJob['status'] | undefined;
  /** 0–100 (0 until the job is known). */
  progress: number;
  message: string | undefined;
  stage: Stage | undefined;
  /** Where the job waits, while it is queued. */
  queue: QueueInfo | undefined;
  /** The ETA as an ISO string, when the job has one. */
  estimatedCompletionAt: string | undefined;
  result: Record<string, unknown> | undefined;
  /** Why the job failed (the job's own error; see `error` for a failure to load it). */
  jobError: JobError | undefined;
  /** Whether the job reached `completed`, `failed` or `cancelled`. */
  isTerminal: boolean;
  /** True until the job is known or loading it failed. */
  isLoading: boolean;
  /** Loading the job failed (`NOT_FOUND` when it is unknown, expired or someone else's). */
  error: SeennClientError | undefined;
  /** Whether the job is a parent of a batch. */
  isParent: boolean;
  /** A parent's finished children (0 for other jobs). */
  childrenCompleted: number;
  childrenFailed: number;
  childrenRunning: number;
  childrenPending: number;
  childrenTotal: number;
  /**
   * Cancels the job (`client.cancel`): resolves with the cancelled job (which also re-renders the
   * hook); rejects with a `SeennClientError` (`CONFLICT` when it had already finished).
   */
  cancel: (options?: { reason?: string }) => Promise<SeennJob>;
}

/**
 * One job, live: read once over REST when it is not cached, then updated by the event stream (or by
 * polling while the stream is not possible) until it finishes. `jobId` may be `null` or `undefined`
 * while the caller does not know it yet.
 */
export function useSeennJob(jobId: string | null | undefined): SeennJobState {
  const client = useSeennClient();
  const subscribe = useCallback(
    (onChange: () => void) =>
      jobId ? client.on('job', (job) => (job.id === jobId ? onChange() : undefined)) : () => undefined,
    [client, jobId],
  );
  const read = (): SeennJob | undefined => (jobId ? client.getJob(jobId) : undefined);
  const job = useSyncExternalStore(subscribe, read, read);
  const [failure, setFailure] = useState<{ jobId: string; error: SeennClientError } | undefined>(undefined);

  useEffect(() => {
    if (!jobId) return undefined;
    let active = true;
    const unwatch = client.watch(jobId);
    if (client.getJob(jobId) === undefined) {
      client.fetchJob(jobId).then(
        (found) => {
          if (active && found === null)
            setFailure({
              jobId,
              error: new SeennClientError('NOT_FOUND', `Job ${jobId} was not found`, { status: 404 }),
            });
        },
        (error: unknown) => {
          if (active)
            setFailure({
              jobId,
              error:
                error instanceof SeennClientError
                  ? error
                  : new SeennClientError('NETWORK_ERROR', String(error), { cause: error }),
            });
        },
      );
    }
    return () => {
      active = false;
      unwatch();
    };
  }, [client, jobId]);

  const error = job === undefined && failure !== undefined && failure.jobId === jobId ? failure.error : undefined;
  const cancel = useCallback(
    (options?: { reason?: string }) =>
      jobId
        ? client.cancel(jobId, options)
        : Promise.reject(new SeennClientError('NOT_FOUND', 'there is no job to cancel yet')),
    [client, jobId],
  );
  return useMemo(
    () => ({ ...jobState(job, Boolean(jobId) && job === undefined && error === undefined, error), cancel }),
    [job, jobId, error, cancel],
  );
}

function jobState(
  job: SeennJob | undefined,
  isLoading: boolean,
  error: SeennClientError | undefined,
): Omit<SeennJobState, 'cancel'> {
  const children = job?.children;
  return {
    job,
    status: job?.status,
    progress: job?.progress ?? 0,
    message: job?.message,
    stage: job?.stage,
    queue: job?.queue,
    estimatedCompletionAt: job?.estimatedCompletionAt,
    result: job?.result,
    jobError: job?.error,
    isTerminal: job !== undefined && isFinished(job),
    isLoading,
    error,
    isParent: children !== undefined,
    childrenCompleted: children?.completed ?? 0,
    childrenFailed: children?.failed ?? 0,
    childrenRunning: children?.running ?? 0,
    childrenPending: children?.pending ?? 0,
    childrenTotal: children?.total ?? 0,
  };
}

/** Options of {@link useSeennJobs}. */
export interface UseSeennJobsOptions {
  /** How many of the newest jobs to read over REST on mount (1–100). @defaultValue 20 */
  limit?: number;
}

/** What {@link useSeennJobs} returns. */
export interface SeennJobsState {
  /** Every job the client knows, newest first. */
  jobs: SeennJob[];
  /** True until the first page was read (or failed). */
  isLoading: boolean;
  error: SeennClientError | undefined;
  /** Reads the newest page again. */
  refresh: () => void;
}

/** The user's jobs, live: the newest page read over REST, then every job the stream brings. */
export function useSeennJobs(options: UseSeennJobsOptions = {}): SeennJobsState {
  const client = useSeennClient();
  const limit = options.limit ?? 20;
  const [jobs, setJobs] = useState<SeennJob[]>(() => client.getJobs());
  const [isLoading, setLoading] = useState(true);
  const [error, setError] = useState<SeennClientError | undefined>(undefined);
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    let active = true;
    const update = (): void => {
      if (active) setJobs(client.getJobs());
    };
    const off = client.on('job', update);
    update();
    setLoading(true);
    client.fetchJobs({ limit }).then(
      () => {
        if (!active) return;
        setError(undefined);
        setLoading(false);
        update();
      },
      (failure: unknown) => {
        if (!active) return;
        setError(
          failure instanceof SeennClientError
            ? failure
            : new SeennClientError('NETWORK_ERROR', String(failure), { cause: failure }),
        );
        setLoading(false);
      },
    );
    return () => {
      active = false;
      off();
    };
  }, [client, limit, generation]);

  const refresh = useCallback(() => setGeneration((value) => value + 1), []);
  return { jobs, isLoading, error, refresh };
}

/** What {@link useSeennParent} returns. */
export interface SeennParentState extends SeennJobState {
  /** The parent job (same as `job`). */
  parent: SeennJob | undefined;
  /** The children as `GET /jobs/:id/children` lists them, by `childIndex`, kept live. */
  children: ChildJobSummary[];
  /** Whether every child finished (completed or failed). */
  allChildrenDone: boolean;
}

/**
 * A batch's parent and its children, live. The children are read with `GET /jobs/:id/children` and
 * read again (coalesced: one request at a time) when a `child.progress` event or a polled parent says
 * they changed; children's own stream events update their rows at once.
 */
export function useSeennParent(parentId: string | null | undefined): SeennParentState {
  const client = useSeennClient();
  const parentState = useSeennJob(parentId);
  const [children, setChildren] = useState<{ parentId: string; rows: ChildJobSummary[] } | undefined>(undefined);
  const [failure, setFailure] = useState<SeennClientError | undefined>(undefined);

  useEffect(() => {
    if (!parentId) return undefined;
    let active = true;
    const state = { running: false, again: false };
    const load = async (): Promise<void> => {
      if (state.running) {
        state.again = true;
        return;
      }
      state.running = true;
      try {
        do {
          state.again = false;
          try {
            const answer = await client.fetchChildren(parentId);
            if (!active) return;
            if (answer === null)
              setFailure(new SeennClientError('NOT_FOUND', `Job ${parentId} was not found`, { status: 404 }));
            else {
              setFailure(undefined);
              setChildren((current) => ({
                parentId,
                rows: newest(current?.parentId === parentId ? current.rows : [], answer.children),
              }));
            }
          } catch (error) {
            if (active)
              setFailure(
                error instanceof SeennClientError
                  ? error
                  : new SeennClientError('NETWORK_ERROR', String(error), { cause: error }),
              );
          }
        } while (state.again && active);
      } finally {
        state.running = false;
      }
    };
    const offChild = client.on('child.progress', (update) => {
      if (update.parentJobId === parentId) void load();
    });
    const offJob = client.on('job', (job, source) => {
      if (job.parent?.parentJobId === parentId) {
        const row = childSummaryOf(job, job.parent.childIndex);
        setChildren((current) => ({
          parentId,
          rows: newest(current?.parentId === parentId ? current.rows : [], [row]),
        }));
      } else if (job.id === parentId && source.via === 'poll') {
        void load();
      }
    });
    void load();
    return () => {
      active = false;
      offChild();
      offJob();
    };
  }, [client, parentId]);

  const rows = children !== undefined && children.parentId === parentId ? children.rows : EMPTY;
  const { childrenCompleted, childrenFailed, childrenTotal } = parentState;
  return {
    ...parentState,
    error: parentState.error ?? failure,
    parent: parentState.job,
    children: rows,
    allChildrenDone: childrenTotal > 0 && childrenCompleted + childrenFailed >= childrenTotal,
  };
}

const EMPTY: ChildJobSummary[] = [];

/** Merges `incoming` rows into `current`, keeping for each child the row updated last; sorted by `childIndex`. */
function newest(current: ChildJobSummary[], incoming: ChildJobSummary[]): ChildJobSummary[] {
  const byId = new Map(current.map((row) => [row.id, row]));
  for (const row of incoming) {
    const known = byId.get(row.id);
    if (known === undefined || known.updatedAt <= row.updatedAt) byId.set(row.id, row);
  }
  return [...byId.values()].sort((a, b) => a.childIndex - b.childIndex);
}

/** What {@link useEtaCountdown} returns. */
export interface EtaCountdown {
  /** Milliseconds until the ETA (0 once it passed), or `undefined` without an ETA. */
  remainingMs: number | undefined;
  /** Whole seconds until the ETA, rounded up. */
  remainingSeconds: number | undefined;
  /** The ETA passed. */
  isPastDue: boolean;
}

/** Counts down to `estimatedCompletionAt` locally, re-rendering every `intervalMs` (like the Seenn SDKs' countdown). */
export function useEtaCountdown(estimatedCompletionAt: string | undefined, intervalMs = 1_000): EtaCountdown {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (estimatedCompletionAt === undefined) return undefined;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [estimatedCompletionAt, intervalMs]);
  if (estimatedCompletionAt === undefined)
    return { remainingMs: undefined, remainingSeconds: undefined, isPastDue: false };
  const target = Date.parse(estimatedCompletionAt);
  if (Number.isNaN(target)) return { remainingMs: undefined, remainingSeconds: undefined, isPastDue: false };
  const remainingMs = Math.max(0, target - now);
  return { remainingMs, remainingSeconds: Math.ceil(remainingMs / 1000), isPastDue: remainingMs === 0 };
}

/** What {@link useSeennJobOutput} returns. */
export interface SeennJobOutputState {
  /** The chunks so far joined: strings as they are, other JSON values as JSON. */
  text: string;
  /** The chunks so far, in seq order, each once. */
  chunks: readonly OutputChunkEvent[];
  /** The job has finished and all its output is here. */
  done: boolean;
  /** Why reading stopped early (`NOT_FOUND` for an unknown job or someone else's). */
  error: SeennClientError | undefined;
}

interface OutputSnapshot extends SeennJobOutputState {
  key: string;
}

const NO_OUTPUT: Omit<OutputSnapshot, 'key'> = Object.freeze({
  text: '',
  chunks: Object.freeze([]) as readonly OutputChunkEvent[],
  done: false,
  error: undefined,
});

/** Runs `callback` before the next paint (`requestAnimationFrame`), or in 16 ms where there is none. */
function nextFrame(callback: () => void): () => void {
  if (typeof requestAnimationFrame === 'function') {
    const handle = requestAnimationFrame(callback);
    return () => cancelAnimationFrame(handle);
  }
  const timer = setTimeout(callback, 16);
  return () => clearTimeout(timer);
}

/**
 * One output stream of a job (`options.stream`, default `'output'`), live: `{ text, chunks, done }`
 * through `client.output` (in order, each chunk once, resumed across reconnects). Chunks are gathered
 * and handed to React at most once per animation frame, however fast they arrive. `jobId` may be
 * `null` or `undefined` while the caller does not know it yet.
 */
export function useSeennJobOutput(
  jobId: string | null | undefined,
  options: { stream?: string } = {},
): SeennJobOutputState {
  const client = useSeennClient();
  const stream = options.stream ?? 'output';
  const key = jobId ? `${jobId}\n${stream}` : '';
  const [snapshot, setSnapshot] = useState<OutputSnapshot>({ key, ...NO_OUTPUT });

  useEffect(() => {
    if (!jobId) return undefined;
    const controller = new AbortController();
    const chunks: OutputChunkEvent[] = [];
    let text = '';
    let done = false;
    let error: SeennClientError | undefined;
    let cancelFrame: (() => void) | undefined;
    const publish = (): void => {
      cancelFrame = undefined;
      setSnapshot({ key, text, chunks: chunks.slice(), done, error });
    };
    const schedule = (): void => {
      cancelFrame ??= nextFrame(publish);
    };
    void (async () => {
      try {
        for await (const chunk of client.output(jobId, { stream, signal: controller.signal })) {
          chunks.push(chunk);
          text += typeof chunk.chunk === 'string' ? chunk.chunk : JSON.stringify(chunk.chunk);
          schedule();
        }
        done = !controller.signal.aborted;
      } catch (failure) {
        error =
          failure instanceof SeennClientError
            ? failure
            : new SeennClientError('NETWORK_ERROR', String(failure), { cause: failure });
      }
      if (!controller.signal.aborted) schedule();
    })();
    return () => {
      controller.abort();
      cancelFrame?.();
    };
  }, [client, jobId, stream, key]);

  const current = snapshot.key === key ? snapshot : { key, ...NO_OUTPUT };
  return useMemo(
    () => ({ text: current.text, chunks: current.chunks, done: current.done, error: current.error }),
    [current.text, current.chunks, current.done, current.error],
  );
}

export type { SeennJob, ChildJobSummary } from '../model/wire.js';
export type { OutputChunkEvent } from './output.js';
export type { ConnectionState } from './client.js';
