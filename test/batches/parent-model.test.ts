/**
 * The pure parent arithmetic: each mode's progress, the counters, and the status rules, with records
 * built by hand (no Redis).
 */
import { describe, expect, it } from 'vitest';
import type { ChildProgressMode, JobStatus, SeennJob } from '../../src/model/job.js';
import {
  CHILD_FAILURE_CODE,
  aggregateProgress,
  applyChildChange,
  asParent,
  childrenStats,
  contributionOf,
  emptyAggregate,
  failedChildKeyOf,
  flowChildFailure,
  parentEventOf,
  withContribution,
} from '../../src/model/parent.js';
import type { JobRecord, ParentAggregate } from '../../src/model/record.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');

function parent(
  total: number,
  mode: ChildProgressMode = 'average',
  failParentOnChildFailure = true,
  runsItself = false,
): JobRecord {
  const at = new Date(T0).toISOString();
  const job: SeennJob = {
    id: 'P',
    jobId: 'P',
    appId: 'a',
    userId: 'u',
    jobType: 'batch',
    title: 'Batch',
    status: 'pending',
    progress: 0,
    createdAt: at,
    updatedAt: at,
  };
  const record: JobRecord = { job, x: { attempt: 0, maxAttempts: 1 } };
  if (runsItself) {
    record.x.queueName = 'q';
    record.x.bullId = 'P';
  }
  return asParent(record, { total, mode, failParentOnChildFailure });
}

function child(index: number, status: JobStatus, progress = 0, weight?: number): JobRecord {
  const at = new Date(T0).toISOString();
  const job: SeennJob = {
    id: `C${index}`,
    jobId: `C${index}`,
    appId: 'a',
    userId: 'u',
    jobType: 'part',
    title: `Part ${index}`,
    status,
    progress,
    createdAt: at,
    updatedAt: at,
    parent: { parentJobId: 'P', childIndex: index },
  };
  if (status === 'failed') job.error = { code: 'BOOM', message: 'it broke' };
  const record: JobRecord = { job, x: { attempt: 1, maxAttempts: 1 } };
  if (weight !== undefined) record.x.weight = weight;
  return record;
}

/** The totals after each child's contribution was added once. */
function totals(total: number, mode: ChildProgressMode, children: JobRecord[]): ParentAggregate {
  return children.reduce(
    (aggregate, record) => withContribution(aggregate, null, contributionOf(record)),
    emptyAggregate({ total, mode, failParentOnChildFailure: true }),
  );
}

describe('progress by mode', () => {
  it("the seed's example: five children at 100, 100, 100, 45, 0 under average give 69", () => {
    const children = [
      child(0, 'completed', 100),
      child(1, 'completed', 100),
      child(2, 'completed', 100),
      child(3, 'running', 45),
      child(4, 'queued', 0),
    ];
    expect(aggregateProgress(totals(5, 'average', children))).toBe(69);
  });

  it('average counts children not created yet as 0', () => {
    expect(aggregateProgress(totals(4, 'average', [child(0, 'running', 80), child(1, 'running', 40)]))).toBe(30);
    expect(aggregateProgress(totals(3, 'average', [child(0, 'running', 50)]))).toBe(16); // 16.67 rounded down
  });

  it('sequential counts finished children only (a failed one finishes)', () => {
    const children = [child(0, 'completed', 100), child(1, 'failed', 10), child(2, 'running', 99)];
    expect(aggregateProgress(totals(4, 'sequential', children))).toBe(50);
    expect(aggregateProgress(totals(3, 'sequential', [child(0, 'completed', 100)]))).toBe(33);
  });

  it('weighted uses each weight, 1 by default and for children not created yet', () => {
    // (3·100 + 1·50) / (3 + 1 + 1 missing) = 70
    expect(aggregateProgress(totals(3, 'weighted', [child(0, 'completed', 100, 3), child(1, 'running', 50)]))).toBe(70);
    // fractional weights: (0.1·100 + 0.2·100 + 0.7·100) / 1.0 = 100 exactly despite floats
    expect(
      aggregateProgress(
        totals(3, 'weighted', [
          child(0, 'completed', 0, 0.1),
          child(1, 'completed', 0, 0.2),
          child(2, 'completed', 0, 0.7),
        ]),
      ),
    ).toBe(100);
  });

  it('rounds down, so 100 needs every child at 100', () => {
    const almost = [...Array.from({ length: 199 }, (_, i) => child(i, 'completed', 100)), child(199, 'running', 0)];
    expect(aggregateProgress(totals(200, 'average', almost))).toBe(99);
  });

  it('removing a contribution and adding the new one is exact after many updates', () => {
    let aggregate = emptyAggregate({ total: 2, mode: 'weighted', failParentOnChildFailure: true });
    let previous: JobRecord | null = null;
    for (let progress = 0; progress <= 100; progress += 1) {
      const next = child(0, progress === 100 ? 'completed' : 'running', progress, 0.3);
      aggregate = withContribution(aggregate, contributionOf(previous), contributionOf(next));
      previous = next;
    }
    expect(aggregate).toMatchObject({
      created: 1,
      completed: 1,
      running: 0,
      createdWeight: 0.3,
      weightedProgressSum: 30,
      progressSum: 100,
    });
    // 0.3·100 / (0.3 + 1) = 23.07…
    expect(aggregateProgress(aggregate)).toBe(23);
  });
});

describe('counters and status', () => {
  it('counts after every step of a child going pending → running → completed', () => {
    let record = parent(3);
    expect(record.job.children).toEqual({ total: 3, completed: 0, failed: 0, running: 0, pending: 3 });
    const created = child(0, 'queued');
    record = applyChildChange(record, null, created, T0 + 1);
    expect(record.job.children).toEqual({ total: 3, completed: 0, failed: 0, running: 0, pending: 3 });
    expect(record.job.status).toBe('pending');

    const running = child(0, 'running', 30);
    record = applyChildChange(record, created, running, T0 + 2);
    expect(record.job.children).toEqual({ total: 3, completed: 0, failed: 0, running: 1, pending: 2 });
    expect(record.job).toMatchObject({
      status: 'running',
      progress: 10,
      startedAt: new Date(T0 + 2).toISOString(),
      updatedAt: new Date(T0 + 2).toISOString(),
    });

    const done = child(0, 'completed', 100);
    record = applyChildChange(record, running, done, T0 + 3);
    expect(record.job.children).toEqual({ total: 3, completed: 1, failed: 0, running: 0, pending: 2 });
    expect(record.job).toMatchObject({ status: 'running', progress: 33 });
  });

  it('completes by itself when every child has finished', () => {
    let record = parent(2);
    for (const index of [0, 1])
      record = applyChildChange(record, null, child(index, 'completed', 100), T0 + 10 + index);
    expect(record.job).toMatchObject({
      status: 'completed',
      progress: 100,
      completedAt: new Date(T0 + 11).toISOString(),
    });
    expect(record.job.children).toEqual({ total: 2, completed: 2, failed: 0, running: 0, pending: 0 });
  });

  it('fails as soon as a child fails, saying which (default policy)', () => {
    let record = parent(3);
    record = applyChildChange(record, null, child(0, 'completed', 100), T0 + 1);
    record = applyChildChange(record, null, child(1, 'failed', 20), T0 + 2);
    expect(record.job.status).toBe('failed');
    expect(record.job.error).toEqual({
      code: CHILD_FAILURE_CODE,
      message: 'Child job 1 (Part 1) failed: it broke',
      details: {
        childJobId: 'C1',
        childIndex: 1,
        childStatus: 'failed',
        childError: { code: 'BOOM', message: 'it broke' },
      },
    });
    expect(record.job.completedAt).toBe(new Date(T0 + 2).toISOString());
    const frozen = record.job.progress;

    // Later children update the counters, never the terminal status, progress or error.
    record = applyChildChange(record, null, child(2, 'completed', 100), T0 + 3);
    expect(record.job).toMatchObject({
      status: 'failed',
      progress: frozen,
      completedAt: new Date(T0 + 2).toISOString(),
    });
    expect(record.job.children).toEqual({ total: 3, completed: 2, failed: 1, running: 0, pending: 0 });
  });

  it('a cancelled child counts as failed', () => {
    const record = applyChildChange(parent(2), null, child(0, 'cancelled'), T0 + 1);
    expect(record.job.status).toBe('failed');
    expect(record.job.error?.message).toBe('Child job 0 (Part 0) was cancelled');
  });

  it('with failParentOnChildFailure false it carries on and completes at 100 with the failures counted', () => {
    let record = parent(3, 'average', false);
    record = applyChildChange(record, null, child(0, 'failed', 10), T0 + 1);
    expect(record.job).toMatchObject({ status: 'running', progress: 33 });
    record = applyChildChange(record, null, child(1, 'completed', 100), T0 + 2);
    record = applyChildChange(record, null, child(2, 'completed', 100), T0 + 3);
    expect(record.job).toMatchObject({ status: 'completed', progress: 100 });
    expect(record.job.error).toBeUndefined();
    expect(record.job.children).toEqual({ total: 3, completed: 2, failed: 1, running: 0, pending: 0 });
  });

  it('a parent BullMQ runs does not complete by itself: its own job does', () => {
    let record = parent(1, 'average', true, true);
    record = applyChildChange(record, null, child(0, 'completed', 100), T0 + 1);
    expect(record.job).toMatchObject({ status: 'running', progress: 100 });
  });

  it('updatedAt never goes backwards (children of other queues may report older times)', () => {
    let record = applyChildChange(parent(2), null, child(0, 'running', 10), T0 + 100);
    record = applyChildChange(record, null, child(1, 'running', 20), T0 + 50);
    expect(record.job.updatedAt).toBe(new Date(T0 + 100).toISOString());
    expect(record.job.progress).toBe(15);
  });

  it('counters report pending including children not created', () => {
    const aggregate = totals(5, 'average', [child(0, 'running', 1), child(1, 'completed', 100)]);
    expect(childrenStats(aggregate)).toEqual({ total: 5, completed: 1, failed: 0, running: 1, pending: 3 });
  });
});

describe('events', () => {
  it('child.progress for progress or counters, job.* when the status changes, nothing when nothing visible changed', () => {
    const start = parent(4, 'sequential');
    const running = applyChildChange(start, null, child(0, 'running', 10), T0 + 1);
    expect(parentEventOf(start.job, running.job)?.name).toBe('job.progress');
    const further = applyChildChange(running, child(0, 'running', 10), child(0, 'running', 60), T0 + 2);
    // Sequential progress does not move with a running child's progress: nothing to say.
    expect(parentEventOf(running.job, further.job)).toBeNull();
    const done = applyChildChange(further, child(0, 'running', 60), child(0, 'completed', 100), T0 + 3);
    const event = parentEventOf(further.job, done.job);
    expect(event?.name).toBe('child.progress');
    expect(JSON.parse(event?.data ?? '{}')).toEqual({
      parentJobId: 'P',
      progress: 25,
      status: 'running',
      children: { total: 4, completed: 1, failed: 0, running: 0, pending: 3 },
      updatedAt: new Date(T0 + 3).toISOString(),
    });
  });
});

describe('a flow parent failed by BullMQ', () => {
  it("reads the child's key from BullMQ's deferred failure reason", () => {
    expect(failedChildKeyOf('child bull:parts:abc failed')).toBe('bull:parts:abc');
    expect(failedChildKeyOf('something else failed')).toBeNull();
  });

  it('names the child, with its own error when it is known already', () => {
    const running = child(2, 'running', 40);
    expect(flowChildFailure(running, 'bull:q:C2')).toEqual({
      code: CHILD_FAILURE_CODE,
      message: 'Child job 2 (Part 2) failed',
      details: { childJobId: 'C2', childIndex: 2, childStatus: 'failed' },
    });
    running.x.lastError = { code: 'NOPE', message: 'nope', attempt: 1 };
    expect(flowChildFailure(running, 'bull:q:C2').details).toMatchObject({
      childError: { code: 'NOPE', message: 'nope' },
    });
    expect(flowChildFailure(null, 'bull:q:C2')).toEqual({
      code: CHILD_FAILURE_CODE,
      message: 'Child job bull:q:C2 failed',
      details: { childKey: 'bull:q:C2' },
    });
  });
});
