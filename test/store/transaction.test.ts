/**
 * The store's one transaction helper (`store/transaction.ts`) against a real Redis: a moved snapshot
 * makes it retry on fresh state, a snapshot that never stops moving ends `exhausted` with nothing of
 * the step written, outcomes keep their names (`duplicate`, `index-taken`), the parent lock queues one
 * store's transactions on one parent, and two stores (two connections, as two processes) racing on
 * one parent keep its counters exact.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChildChange, asParent } from '../../src/model/parent.js';
import type { JobRecord } from '../../src/model/record.js';
import { createRecord } from '../../src/model/reducer.js';
import { commitNewChild } from '../../src/store/family.js';
import { JobStore, RETENTION_DEFAULTS, type JobChange } from '../../src/store/job-store.js';
import { SeennKeys } from '../../src/store/keys.js';
import { TRANSACTION_DEFAULTS, transact } from '../../src/store/transaction.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('tx');
const keys = new SeennKeys(prefix, 'default');
let redis: Redis;
let other: Redis;
let store: JobStore;
/** A second store on its own connection: its own parent lock, as in another process. */
let otherStore: JobStore;

beforeAll(() => {
  redis = connect();
  other = connect();
  store = new JobStore(redis, keys, RETENTION_DEFAULTS);
  otherStore = new JobStore(other, keys, RETENTION_DEFAULTS);
});

afterAll(async () => {
  await deletePrefix(redis, prefix);
  await Promise.all([redis.quit(), other.quit()]);
});

function job(userId: string, id: string, parent?: { parentJobId: string; childIndex: number }): JobRecord {
  const descriptor = { userId, jobType: 'video', title: `Job ${id}` };
  return createRecord(id, 'default', parent === undefined ? descriptor : { ...descriptor, parent }, {
    queueName: 'q',
    bullId: id,
    createdAtMs: Date.UTC(2026, 0, 1),
    maxAttempts: 1,
    state: 'waiting',
  });
}

function parentJob(userId: string, id: string, total: number): JobRecord {
  return asParent(job(userId, id), { total, mode: 'average', failParentOnChildFailure: true });
}

async function create(userId: string, record: JobRecord): Promise<void> {
  expect((await store.commit(userId, [{ expectedVersion: 0, record, index: true }])).status).toBe('ok');
}

/** A change that renames a job (a visible change), from the snapshot it was computed on. */
function renamed(record: JobRecord, version: number, title: string): JobChange {
  return { expectedVersion: version, record: { job: { ...record.job, title }, x: record.x } };
}

describe('transact', () => {
  it('retries on a moved version and commits on fresh state', async () => {
    await create('u1', job('u1', 'j1'));
    let plans = 0;
    const outcome = await transact(store, {
      userId: 'u1',
      jobIds: ['j1'],
      plan: async ([snapshot]) => {
        plans += 1;
        if (snapshot === null || snapshot === undefined) throw new Error('no snapshot');
        if (plans === 1) {
          // Another writer moves the job between this read and the commit.
          const moved = renamed(snapshot.record, snapshot.version, 'moved by another writer');
          expect((await otherStore.commit('u1', [moved])).status).toBe('ok');
        }
        return {
          changes: [renamed(snapshot.record, snapshot.version, `${snapshot.record.job.title} + ours`)],
          value: plans,
        };
      },
    });
    expect(outcome).toEqual({ status: 'committed', value: 2, entryIds: [] });
    const stored = await store.read('u1', 'j1');
    expect(stored?.version).toBe(3);
    expect(stored?.record.job.title).toBe('moved by another writer + ours');
  });

  it('ends exhausted after maxAttempts moved versions, with nothing of its own written', async () => {
    await create('u2', job('u2', 'j2'));
    let plans = 0;
    const outcome = await transact(
      store,
      {
        userId: 'u2',
        jobIds: ['j2'],
        plan: async ([snapshot]) => {
          plans += 1;
          if (snapshot === null || snapshot === undefined) throw new Error('no snapshot');
          expect(
            (await otherStore.commit('u2', [renamed(snapshot.record, snapshot.version, `other ${plans}`)])).status,
          ).toBe('ok');
          return { changes: [renamed(snapshot.record, snapshot.version, 'ours')], value: undefined };
        },
      },
      { maxAttempts: 3, backoffCapMs: 0 },
    );
    expect(outcome).toEqual({ status: 'exhausted', attempts: 3 });
    expect(plans).toBe(3);
    expect((await store.read('u2', 'j2'))?.record.job.title).toBe('other 3');
    expect(TRANSACTION_DEFAULTS.maxAttempts).toBe(50);
  });

  it('answers unchanged without writing, and names a source already applied `duplicate`', async () => {
    const record = job('u3', 'j3');
    expect((await store.commit('u3', [{ expectedVersion: 0, src: '5-0', record }])).status).toBe('ok');
    const unchanged = await transact(store, { userId: 'u3', jobIds: ['j3'], plan: () => ({ unchanged: 'nothing' }) });
    expect(unchanged).toEqual({ status: 'unchanged', value: 'nothing' });
    const duplicate = await transact(store, {
      userId: 'u3',
      jobIds: ['j3'],
      plan: ([snapshot]) => ({
        changes: [{ ...renamed(record, snapshot?.version ?? 0, 'again'), src: '4-0' }],
        value: 'mine',
      }),
    });
    expect(duplicate).toEqual({ status: 'duplicate', value: 'mine' });
    expect((await store.read('u3', 'j3'))?.version).toBe(1);
  });

  it('names a child whose index another job holds `index-taken`', async () => {
    await create('u4', parentJob('u4', 'P4', 2));
    expect(await commitNewChild(store, job('u4', 'c0', { parentJobId: 'P4', childIndex: 0 }))).toBe('committed');
    const outcome = await transact(store, {
      userId: 'u4',
      jobIds: [],
      plan: () => ({
        parentJobId: 'P4',
        step: () => ({
          changes: [
            { expectedVersion: 0, record: job('u4', 'intruder', { parentJobId: 'P4', childIndex: 0 }), index: true },
          ],
          value: 'x',
        }),
      }),
    });
    expect(outcome).toEqual({ status: 'index-taken', value: 'x', jobId: 'intruder' });
    expect(await commitNewChild(store, job('u4', 'c0b', { parentJobId: 'P4', childIndex: 0 }))).toBe('index-taken');
    expect(await commitNewChild(store, job('u4', 'orphan', { parentJobId: 'nobody', childIndex: 0 }))).toBe(
      'no-parent',
    );
    expect(await store.childIds('u4', 'P4')).toEqual(['c0']);
  });

  it('queues one store’s transactions on one parent: their steps never overlap, none conflicts', async () => {
    await create('u5', parentJob('u5', 'P5', 2));
    let inside = 0;
    let most = 0;
    let plans = 0;
    const addChild = (childIndex: number) =>
      transact(store, {
        userId: 'u5',
        jobIds: [],
        plan: () => {
          plans += 1;
          return {
            parentJobId: 'P5',
            step: async (parent) => {
              inside += 1;
              most = Math.max(most, inside);
              // A real round trip inside the step: without the lock the other child's step runs meanwhile.
              await store.read('u5', 'P5');
              inside -= 1;
              if (parent === null) throw new Error('no parent');
              const child = job('u5', `c${childIndex}`, { parentJobId: 'P5', childIndex });
              const next = applyChildChange(parent.record, null, child, Date.now());
              return {
                changes: [
                  { expectedVersion: 0, record: child, index: true },
                  { expectedVersion: parent.version, record: next },
                ],
                value: childIndex,
              };
            },
          };
        },
      });
    const outcomes = await Promise.all([addChild(0), addChild(1)]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['committed', 'committed']);
    expect(most).toBe(1);
    expect(plans).toBe(2);
    expect((await store.read('u5', 'P5'))?.record.x.aggregate?.created).toBe(2);
  });

  it('keeps a parent exact when two stores (two connections, two locks) add its children at once', async () => {
    const total = 40;
    await create('u6', parentJob('u6', 'P6', total));
    const outcomes = await Promise.all(
      Array.from({ length: total }, (_, childIndex) =>
        commitNewChild(
          childIndex % 2 === 0 ? store : otherStore,
          job('u6', `k${childIndex}`, { parentJobId: 'P6', childIndex }),
        ),
      ),
    );
    expect(outcomes).toEqual(Array.from({ length: total }, () => 'committed'));
    const parent = await store.read('u6', 'P6');
    expect(parent?.record.x.aggregate).toMatchObject({ total, created: total });
    expect(parent?.version).toBe(total + 1);
    expect(await store.childIds('u6', 'P6')).toHaveLength(total);
  });
});
