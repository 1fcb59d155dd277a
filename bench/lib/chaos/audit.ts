/**
 * What the chaos soak's workers write, and the audit of what one SSE client received against it and
 * against its user's replay stream. Pure: no I/O.
 *
 * Each attempt of a job runs `steps` steps; step k writes `setProgress(stepProgress(k), { message:
 * stepMessage(k) })`; the job returns `{ token: <its own id> }`. The client-visible changes of a job
 * are the entries of its user's replay stream (the SSE `id:`s); between two of them a worker may have
 * written more (the publisher makes one change of the events of one job it reads at once), so the
 * audit demands, per client:
 * - **lost**: none of its user's stream entries missing, and the final `completed` of every job of its
 *   user that the workers finished seen (so a change the publisher never wrote counts too);
 * - **duplicated**: no entry received twice, and no change of a job shown twice (same attempt,
 *   status and progress under two ids: a source event applied twice);
 * - **out of order**: ids strictly increasing, and per job the shown state only moving forward in
 *   the order the workers wrote it: attempt, then queued → running → finished, then progress;
 * - **mismatched**: every state is one a worker wrote (progress and message of the same step, the
 *   result carrying the job's own id, the job one of its user's).
 */

/** The progress step `step` (1-based) of `steps` writes: 1..99, increasing. */
export function stepProgress(step: number, steps: number): number {
  return Math.round((step * 100) / (steps + 1));
}

/** The message step `step` writes. */
export function stepMessage(step: number): string {
  return `step ${step}`;
}

/** One job event a client received with an `id:` (live position updates without one are derived and not audited). */
export interface SeenEvent {
  /** The SSE `id:` (replay stream entry ID). */
  id: string;
  /** The SSE event name (`job.started`, `job.progress`, `job.completed`, …). */
  event: string;
  jobId: string;
  status: string;
  progress: number;
  message: string | null;
  /** `attempt.current` (1 when absent). */
  attempt: number;
  /** `result.token` of a completed job. */
  resultToken: string | null;
}

/** The counts of one audit (all zero when the client saw exactly what it was owed). */
export interface AuditCounts {
  /** Stream entries of the user the client never received. */
  lostEntries: number;
  /** Jobs of the user the workers completed whose `completed` state the client never saw. */
  lostFinals: number;
  duplicated: number;
  outOfOrder: number;
  mismatched: number;
}

/** What one client is audited against. */
export interface AuditInput {
  /** The job events the client received, in arrival order, over all its connections. */
  events: readonly SeenEvent[];
  /** Every entry ID of the user's replay stream (read from Redis after the run). */
  streamIds: readonly string[];
  /** The user's jobs the workers completed (BullMQ's `completed` set). */
  completedJobIds: readonly string[];
  /** Steps per attempt the workers ran. */
  steps: number;
}

/** Compares two stream entry IDs (`ms-seq`). */
export function compareIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs === bMs ? aSeq - bSeq : aMs - bMs;
}

const PHASE: Record<string, number> = { pending: 0, queued: 0, running: 1, completed: 2, failed: 2, cancelled: 2 };

/** Where a shown state sits in the order the workers wrote: [attempt, phase, progress]. */
function position(event: SeenEvent): [number, number, number] {
  return [event.attempt, PHASE[event.status] ?? -1, event.progress];
}

function comparePositions(a: [number, number, number], b: [number, number, number]): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** Whether a shown state is one a worker (or the publisher, for queued / running) could have written. */
function written(event: SeenEvent, steps: number): boolean {
  switch (event.status) {
    case 'queued':
    case 'pending':
      return event.progress === 0;
    case 'running': {
      if (event.progress === 0) return event.message === null;
      for (let step = 1; step <= steps; step += 1) {
        if (stepProgress(step, steps) === event.progress) return event.message === stepMessage(step);
      }
      return false;
    }
    case 'completed':
      return event.progress === 100 && event.resultToken === event.jobId;
    default:
      return false;
  }
}

/** How many problems of one audit are described (the counts are always complete). */
const MAX_EXAMPLES = 20;

/** One event, in a line, for a problem's description. */
function show(event: SeenEvent): string {
  return `${event.id} ${event.event} job ${event.jobId} attempt ${event.attempt} ${event.status} ${event.progress}% ${JSON.stringify(event.message)}${event.resultToken === null ? '' : ` result ${event.resultToken}`}`;
}

/**
 * Audits one client (see the module comment for what each count means). When `examples` is given, up
 * to 20 problems are described in it, one line each.
 */
export function auditClient(input: AuditInput, examples?: string[]): AuditCounts {
  const counts: AuditCounts = { lostEntries: 0, lostFinals: 0, duplicated: 0, outOfOrder: 0, mismatched: 0 };
  const ownJobs = new Set(input.completedJobIds);
  const received = new Set<string>();
  const lastOfJob = new Map<string, [number, number, number]>();
  const finished = new Set<string>();
  const note = (what: string): void => {
    if (examples !== undefined && examples.length < MAX_EXAMPLES) examples.push(what);
  };
  let previousId: string | null = null;
  for (const event of input.events) {
    if (received.has(event.id)) {
      counts.duplicated += 1;
      note(`duplicated id: ${show(event)}`);
      continue;
    }
    received.add(event.id);
    if (previousId !== null && compareIds(event.id, previousId) <= 0) {
      counts.outOfOrder += 1;
      note(`id after ${previousId}: ${show(event)}`);
    }
    previousId = event.id;
    if (!ownJobs.has(event.jobId) || !written(event, input.steps)) {
      counts.mismatched += 1;
      note(`${ownJobs.has(event.jobId) ? 'not written by a worker' : 'not a job of this user'}: ${show(event)}`);
    }
    const here = position(event);
    const before = lastOfJob.get(event.jobId);
    if (before !== undefined) {
      const order = comparePositions(here, before);
      if (order === 0) {
        counts.duplicated += 1;
        note(`same state again: ${show(event)}`);
      } else if (order < 0) {
        counts.outOfOrder += 1;
        note(`state before [${before.join(', ')}]: ${show(event)}`);
      }
    }
    lastOfJob.set(event.jobId, before === undefined || comparePositions(here, before) > 0 ? here : before);
    if (event.status === 'completed') finished.add(event.jobId);
  }
  const lostIds = input.streamIds.filter((id) => !received.has(id));
  counts.lostEntries = lostIds.length;
  for (const id of lostIds) note(`stream entry never received: ${id}`);
  const unfinished = input.completedJobIds.filter((id) => !finished.has(id));
  counts.lostFinals = unfinished.length;
  for (const id of unfinished) note(`completed job never seen complete: ${id}`);
  return counts;
}

/** Adds `more` into `total`. */
export function addCounts(total: AuditCounts, more: AuditCounts): void {
  total.lostEntries += more.lostEntries;
  total.lostFinals += more.lostFinals;
  total.duplicated += more.duplicated;
  total.outOfOrder += more.outOfOrder;
  total.mismatched += more.mismatched;
}
