/** The pure reducer: every BullMQ → Seenn transition, without Redis. */
import { describe, expect, it } from 'vitest';
import { SeennJobSchema } from '../../src/model/job.js';
import { CHILD_FAILURE_CODE, asParent } from '../../src/model/parent.js';
import {
  ENQUEUE_FAILED,
  HIDDEN_FAILURE_MESSAGE,
  createRecord,
  failedByFlowChild,
  flowFailureChildKey,
  reduce,
  resultOf,
  statusOfBullState,
  type BullJobFacts,
} from '../../src/model/reducer.js';
import type { JobRecord } from '../../src/model/record.js';
import { sameJson, visiblyDifferent } from '../../src/model/record.js';
import type { SourceEvent } from '../../src/model/source-event.js';
import { compareStreamIds, streamIdTime } from '../../src/model/wire.js';

const T0 = Date.UTC(2026, 0, 1);

function fresh(facts: Partial<BullJobFacts> = {}): JobRecord {
  return createRecord(
    '01JTEST',
    'app',
    { userId: 'u', jobType: 'video', title: 'Video', metadata: { a: 1 } },
    { queueName: 'q', bullId: '01JTEST', createdAtMs: T0, maxAttempts: 1, state: 'waiting', ...facts },
  );
}

function run(record: JobRecord, ...events: SourceEvent[]): JobRecord {
  return events.reduce(reduce, record);
}

function payload(attempt: number, progress: number, extra: Record<string, unknown> = {}): unknown {
  return { seenn: 1, attempt, progress, ...extra };
}

describe('createRecord', () => {
  it('builds a valid job object with both ids and ISO times', () => {
    const { job, x } = fresh();
    expect(SeennJobSchema.parse(job)).toEqual(job);
    expect(job).toMatchObject({
      id: '01JTEST',
      jobId: '01JTEST',
      appId: 'app',
      status: 'queued',
      progress: 0,
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
      metadata: { a: 1 },
    });
    expect(job.attempt).toBeUndefined();
    expect(x).toEqual({ queueName: 'q', bullId: '01JTEST', attempt: 0, maxAttempts: 1 });
  });

  it('starts delayed jobs and flow parents as pending, and shows attempts when there are several', () => {
    expect(fresh({ state: 'delayed' }).job.status).toBe('pending');
    expect(fresh({ state: 'waiting-children' }).job.status).toBe('pending');
    expect(fresh({ maxAttempts: 3 }).job.attempt).toEqual({ current: 1, max: 3 });
  });

  it('maps every BullMQ state', () => {
    expect(
      ['waiting', 'prioritized', 'delayed', 'waiting-children', 'active', 'completed', 'failed', 'unknown'].map((s) =>
        statusOfBullState(s as BullJobFacts['state']),
      ),
    ).toEqual(['queued', 'queued', 'pending', 'pending', 'running', 'completed', 'failed', 'cancelled']);
  });
});

describe('reduce', () => {
  it('active: running, startedAt once, attempt counted, progress afresh', () => {
    const running = run(
      fresh({ maxAttempts: 2 }),
      { kind: 'active', at: T0 + 10 },
      {
        kind: 'progress',
        at: T0 + 20,
        data: payload(1, 40, { message: 'm', stage: { name: 's', current: 1, total: 3 } }),
      },
    );
    expect(running.job).toMatchObject({
      status: 'running',
      progress: 40,
      message: 'm',
      startedAt: '2026-01-01T00:00:00.010Z',
      attempt: { current: 1, max: 2 },
    });
    const again = run(running, { kind: 'waiting', at: T0 + 30, prev: 'active' }, { kind: 'active', at: T0 + 40 });
    expect(again.job).toMatchObject({
      status: 'running',
      progress: 0,
      startedAt: '2026-01-01T00:00:00.010Z',
      attempt: { current: 2, max: 2 },
    });
    expect(again.job.message).toBeUndefined();
    expect(again.job.stage).toBeUndefined();
    expect(again.x.attempt).toBe(2);
  });

  it('progress: our payload sets every field; a bare number sets progress; anything else is ignored', () => {
    const active = run(fresh(), { kind: 'active', at: T0 });
    const withAll = reduce(active, {
      kind: 'progress',
      at: T0 + 1,
      data: payload(1, 33, {
        message: 'Rendering',
        stage: { name: 'render', current: 2, total: 3 },
        queue: { position: 2 },
        estimatedCompletionAt: '2026-01-01T01:00:00.000Z',
        metadata: { k: 'v' },
      }),
    });
    expect(withAll.job).toMatchObject({
      progress: 33,
      message: 'Rendering',
      stage: { name: 'render', current: 2, total: 3 },
      queue: { position: 2 },
      estimatedCompletionAt: '2026-01-01T01:00:00.000Z',
      metadata: { k: 'v' },
    });
    expect(reduce(withAll, { kind: 'progress', at: T0 + 2, data: payload(1, 50) }).job.message).toBeUndefined();
    expect(reduce(active, { kind: 'progress', at: T0 + 3, data: 61.6 }).job.progress).toBe(62);
    expect(reduce(active, { kind: 'progress', at: T0 + 3, data: 250 }).job.progress).toBe(100);
    expect(reduce(active, { kind: 'progress', at: T0 + 4, data: 'half' })).toBe(active);
    expect(reduce(active, { kind: 'progress', at: T0 + 4, data: { seenn: 1, attempt: 1, progress: 'x' } })).toBe(
      active,
    );
  });

  it('progress of another attempt is stale and changes nothing', () => {
    const active = run(
      fresh({ maxAttempts: 3 }),
      { kind: 'active', at: T0 },
      { kind: 'waiting', at: T0 + 1, prev: 'active' },
      { kind: 'active', at: T0 + 2 },
    );
    expect(reduce(active, { kind: 'progress', at: T0 + 3, data: payload(1, 90) })).toBe(active);
    expect(reduce(active, { kind: 'progress', at: T0 + 3, data: payload(2, 90) }).job.progress).toBe(90);
  });

  it('completed: progress 100, result, completedAt; a non-object result is wrapped', () => {
    const done = run(fresh(), { kind: 'active', at: T0 }, { kind: 'completed', at: T0 + 5, returnvalue: { url: 'u' } });
    expect(done.job).toMatchObject({
      status: 'completed',
      progress: 100,
      result: { url: 'u' },
      completedAt: '2026-01-01T00:00:00.005Z',
    });
    expect(resultOf(42)).toEqual({ data: { value: 42 } });
    expect(resultOf([1])).toEqual({ data: { value: [1] } });
    expect(resultOf({ url: 'u', data: 'x', type: 3 })).toEqual({ url: 'u', data: { value: 'x' } });
    expect(resultOf({ data: { n: 1 } })).toEqual({ data: { n: 1 } });
    expect(resultOf(null)).toBeUndefined();
    expect(run(fresh(), { kind: 'completed', at: T0, returnvalue: undefined }).job.result).toBeUndefined();
  });

  it('failed: the worker-reported code wins when it belongs to the last attempt', () => {
    const reported = run(
      fresh(),
      { kind: 'active', at: T0 },
      { kind: 'progress', at: T0 + 1, data: payload(1, 10, { error: { code: 'QUOTA', message: 'over quota' } }) },
    );
    expect(reported.job.status).toBe('running');
    expect(run(reported, { kind: 'failed', at: T0 + 2, reason: 'over quota' }).job.error).toEqual({
      code: 'QUOTA',
      message: 'over quota',
    });
    const plain = run(fresh(), { kind: 'active', at: T0 }, { kind: 'failed', at: T0 + 2, reason: 'boom' });
    expect(plain.job).toMatchObject({
      status: 'failed',
      error: { code: 'JOB_FAILED', message: HIDDEN_FAILURE_MESSAGE },
      completedAt: '2026-01-01T00:00:00.002Z',
    });
  });

  it("failed without a report of this attempt: BullMQ's reason is never shown, except its own child-failure reason", () => {
    const secret = 'connect to postgres://admin:s3cret@db.internal:5432/app failed';
    expect(run(fresh(), { kind: 'active', at: T0 }, { kind: 'failed', at: T0 + 2, reason: secret }).job.error).toEqual({
      code: 'JOB_FAILED',
      message: HIDDEN_FAILURE_MESSAGE,
    });
    // A report of an earlier attempt does not speak for this one.
    const earlier = run(
      fresh({ maxAttempts: 2 }),
      { kind: 'active', at: T0 },
      { kind: 'progress', at: T0 + 1, data: payload(1, 10, { error: { code: 'E', message: 'first' } }) },
      { kind: 'waiting', at: T0 + 2, prev: 'active' },
      { kind: 'active', at: T0 + 3 },
    );
    expect(reduce(earlier, { kind: 'failed', at: T0 + 4, reason: secret }).job.error).toEqual({
      code: 'JOB_FAILED',
      message: HIDDEN_FAILURE_MESSAGE,
    });
    expect(run(fresh(), { kind: 'failed', at: T0, reason: 'child bull:q:7 failed' }).job.error).toEqual({
      code: 'JOB_FAILED',
      message: 'child bull:q:7 failed',
    });
  });

  it('a failed attempt that will retry is queued or pending with the next attempt, never failed', () => {
    const first = run(
      fresh({ maxAttempts: 3 }),
      { kind: 'active', at: T0 },
      { kind: 'progress', at: T0 + 1, data: payload(1, 70, { error: { code: 'E', message: 'flaky' } }) },
    );
    const backoff = reduce(first, { kind: 'delayed', at: T0 + 2, runAt: T0 + 1000, attemptsMade: 1 });
    expect(backoff.job).toMatchObject({
      status: 'pending',
      progress: 0,
      attempt: { current: 2, max: 3 },
      message: 'Attempt 1 failed (flaky); retrying',
    });
    const immediate = reduce(first, { kind: 'waiting', at: T0 + 2, prev: 'active' });
    expect(immediate.job).toMatchObject({ status: 'queued', attempt: { current: 2, max: 3 } });
  });

  it('a delay after a run without a failure is a step job delaying itself', () => {
    const active = run(
      fresh({ maxAttempts: 3 }),
      { kind: 'active', at: T0 },
      { kind: 'progress', at: T0 + 1, data: payload(1, 50, { message: 'step 1 done' }) },
    );
    const delayed = reduce(active, { kind: 'delayed', at: T0 + 2, runAt: T0 + 100, attemptsMade: 0 });
    expect(delayed.job).toMatchObject({
      status: 'pending',
      progress: 50,
      message: 'step 1 done',
      attempt: { current: 1, max: 3 },
    });
  });

  it('counts read after a later attempt began: decided only when past doubt, else by the reported failure or failedReason', () => {
    const active = run(fresh({ maxAttempts: 3 }), { kind: 'active', at: T0 });
    const delayed = (counts: { attemptsMade: number; attemptsStarted: number; failedBefore: boolean }) =>
      reduce(active, { kind: 'delayed', at: T0 + 2, runAt: T0 + 100, ...counts }).job.message;
    // A step job's delay, read after its next attempt completed (that completion counted): not a retry.
    expect(delayed({ attemptsMade: 1, attemptsStarted: 2, failedBefore: false })).toBeUndefined();
    // A backoff, read after the next attempt completed: two ended attempts for two started — a retry.
    expect(delayed({ attemptsMade: 2, attemptsStarted: 2, failedBefore: true })).toBe(
      'Attempt 1 did not finish; it will run again',
    );
    // A backoff read while the next attempt runs: in doubt, BullMQ's failedReason decides.
    expect(delayed({ attemptsMade: 1, attemptsStarted: 2, failedBefore: true })).toBe(
      'Attempt 1 did not finish; it will run again',
    );
    // No later attempt: the count is exact.
    expect(delayed({ attemptsMade: 0, attemptsStarted: 1, failedBefore: true })).toBeUndefined();
  });

  it('a progress write that lands after its attempt left active (a stalled worker) shows nothing; its failure report still counts', () => {
    const requeued = run(
      fresh({ maxAttempts: 3 }),
      { kind: 'active', at: T0 },
      { kind: 'progress', at: T0 + 1, data: payload(1, 10, { message: 'starting' }) },
      { kind: 'waiting', at: T0 + 2, prev: 'active' },
    );
    expect(requeued.job).toMatchObject({ status: 'queued', progress: 0 });
    const late = reduce(requeued, { kind: 'progress', at: T0 + 3, data: payload(1, 20, { message: 'step 1' }) });
    expect(late.job).toEqual(requeued.job);
    expect(reduce(requeued, { kind: 'progress', at: T0 + 3, data: 20 }).job).toEqual(requeued.job);
    // A failure report of the attempt is kept even when it is read after the job left active (re-sync).
    const reported = reduce(requeued, {
      kind: 'progress',
      at: T0 + 3,
      data: payload(1, 20, { error: { code: 'E', message: 'boom' } }),
    });
    expect(reported.x.lastError).toMatchObject({ code: 'E', attempt: 1 });
  });

  it('removed: cancelled; terminal states are final', () => {
    const cancelled = run(fresh(), { kind: 'removed', at: T0 + 1 });
    expect(cancelled.job).toMatchObject({ status: 'cancelled', completedAt: '2026-01-01T00:00:00.001Z' });
    for (const event of [
      { kind: 'active', at: T0 + 2 },
      { kind: 'completed', at: T0 + 3, returnvalue: 1 },
      { kind: 'progress', at: T0 + 4, data: 5 },
    ] as SourceEvent[]) {
      expect(reduce(cancelled, event)).toBe(cancelled);
    }
  });

  it('waiting-children and delayed make a queued job pending; updatedAt follows the event time', () => {
    expect(reduce(fresh(), { kind: 'waiting-children', at: T0 + 9 }).job).toMatchObject({
      status: 'pending',
      updatedAt: '2026-01-01T00:00:00.009Z',
    });
    expect(reduce(fresh(), { kind: 'delayed', at: T0 + 9, runAt: T0 + 50 }).job.status).toBe('pending');
  });
});

describe('reduce: enqueue-failed (BullMQ refused the job)', () => {
  it('fails the job with ENQUEUE_FAILED and the BullMQ message, stamped at the refusal', () => {
    const queued = { ...fresh(), job: { ...fresh().job, queue: { position: 3 } } };
    const failed = reduce(queued, { kind: 'enqueue-failed', at: T0 + 5, message: 'Connection is closed.' });
    expect(failed.job).toMatchObject({
      status: 'failed',
      updatedAt: new Date(T0 + 5).toISOString(),
      completedAt: new Date(T0 + 5).toISOString(),
      error: { code: ENQUEUE_FAILED, message: 'Connection is closed.' },
    });
    expect(failed.job.queue).toBeUndefined();
    expect(failed.x).toEqual(queued.x);
    expect(SeennJobSchema.parse(failed.job)).toEqual(failed.job);
  });

  it('leaves a finished job alone (terminal states are final)', () => {
    const done = run(fresh(), { kind: 'active', at: T0 + 1 }, { kind: 'completed', at: T0 + 2, returnvalue: 1 });
    expect(reduce(done, { kind: 'enqueue-failed', at: T0 + 3, message: 'late' })).toBe(done);
  });
});

describe('a flow parent BullMQ failed because of a child (failParentOnFailure)', () => {
  const flowParent = (): JobRecord =>
    asParent(fresh({ state: 'waiting-children' }), { total: 2, mode: 'average', failParentOnChildFailure: true });
  const failedBy = (record: JobRecord, reason: string): JobRecord =>
    run(record, { kind: 'failed', at: T0 + 5, reason });

  it("names the child key from BullMQ's reason, only on the change that failed the parent", () => {
    const before = flowParent();
    const failed = failedBy(before, 'child bull:parts:C1 failed');
    expect(flowFailureChildKey(before, failed)).toBe('bull:parts:C1');
    expect(flowFailureChildKey(null, failed)).toBe('bull:parts:C1');
    // Already failed before this change, another reason, or not a parent: nothing to name.
    expect(flowFailureChildKey(failed, failed)).toBeNull();
    expect(flowFailureChildKey(before, failedBy(before, 'boom'))).toBeNull();
    const plain = fresh();
    expect(flowFailureChildKey(plain, failedBy(plain, 'child bull:parts:C1 failed'))).toBeNull();
  });

  it('keeps an error the worker reported for the attempt', () => {
    const before = flowParent();
    const reported: JobRecord = {
      job: before.job,
      x: { ...before.x, lastError: { code: 'OWN', message: 'child bull:parts:C1 failed', attempt: 0 } },
    };
    expect(flowFailureChildKey(before, failedBy(reported, 'child bull:parts:C1 failed'))).toBeNull();
  });

  it('shows CHILD_JOB_FAILED naming the child, whether its record is known or not', () => {
    const failed = failedBy(flowParent(), 'child bull:parts:C1 failed');
    const unknown = failedByFlowChild(failed, null, 'bull:parts:C1');
    expect(unknown.job.error).toEqual({
      code: CHILD_FAILURE_CODE,
      message: 'Child job bull:parts:C1 failed',
      details: { childKey: 'bull:parts:C1' },
    });
    expect(unknown.job.status).toBe('failed');
    expect(unknown.x).toBe(failed.x);
    const child: JobRecord = {
      job: {
        ...fresh().job,
        id: 'C1',
        jobId: 'C1',
        title: 'Part 1',
        parent: { parentJobId: '01JTEST', childIndex: 1 },
      },
      x: { attempt: 1, maxAttempts: 1, lastError: { code: 'NOPE', message: 'nope', attempt: 1 } },
    };
    expect(failedByFlowChild(failed, child, 'bull:parts:C1').job.error).toMatchObject({
      code: CHILD_FAILURE_CODE,
      details: { childJobId: 'C1', childIndex: 1, childError: { code: 'NOPE', message: 'nope' } },
    });
  });
});

describe('helpers', () => {
  it('visiblyDifferent ignores updatedAt only', () => {
    const { job } = fresh();
    expect(visiblyDifferent(job, { ...job, updatedAt: '2030-01-01T00:00:00.000Z' })).toBe(false);
    expect(visiblyDifferent(job, { ...job, progress: 1 })).toBe(true);
  });

  it('sameJson compares JSON values whatever their key order', () => {
    expect(sameJson({ a: 1, b: { c: [1, { d: 2 }] } }, { b: { c: [1, { d: 2 }] }, a: 1 })).toBe(true);
    expect(sameJson({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameJson({ a: 1, b: 2 }, { a: 1 })).toBe(false);
    expect(sameJson({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(sameJson({ a: undefined }, {})).toBe(true);
    expect(sameJson([1], { 0: 1 })).toBe(false);
    expect(sameJson(null, {})).toBe(false);
    expect(sameJson({ t: 1, x: 5 }, { t: 2, x: 5 }, 't')).toBe(true);
  });

  it('compares stream ids numerically and reads their time', () => {
    expect(compareStreamIds('999-5', '1000-0')).toBeLessThan(0);
    expect(compareStreamIds('1000-10', '1000-9')).toBeGreaterThan(0);
    expect(compareStreamIds('7-1', '7-1')).toBe(0);
    expect(streamIdTime('1700000000123-4')).toBe(1_700_000_000_123);
  });
});
