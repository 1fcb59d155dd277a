/**
 * Issue 13, finding 9: producer input that JSON cannot store, or times a `Date` cannot hold, or
 * options one Seenn job cannot honour, gets a coded `ValidationError` from every producer and
 * writes nothing (the whole key space under the test's prefix is byte-for-byte unchanged).
 */
import type { JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Seenn, ValidationError } from '../../src/index.js';
import { jsonProblemOf, LIMITS } from '../../src/model/job.js';
import { SetProgressOptionsSchema } from '../../src/model/progress.js';
import { parseOrThrow } from '../../src/options.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('sec-in');
const QUEUE = 'inputs';
let redis: Redis;
let seenn: Seenn;
let parentId: string;

/** An object that contains itself. */
function circular(): Record<string, unknown> {
  const value: Record<string, unknown> = { a: 1, nested: { b: 2 } };
  (value['nested'] as Record<string, unknown>)['back'] = value;
  return value;
}

/** Arrays nested `depth` deep. */
function nested(depth: number): unknown[] {
  let value: unknown[] = [];
  for (let i = 0; i < depth; i += 1) value = [value];
  return value;
}

/** Every key under the prefix with its DUMP: the store's and BullMQ's whole state. */
async function state(): Promise<Map<string, string>> {
  const keys = (await redis.keys(`${prefix}:*`)).sort();
  const dumps = await Promise.all(keys.map((key) => redis.dumpBuffer(key)));
  return new Map(keys.map((key, i) => [key, dumps[i]?.toString('base64') ?? '']));
}

/** The coded error `call` rejects with; fails the test on a raw (uncoded) error or on success. */
async function codedError(call: () => Promise<unknown>): Promise<ValidationError> {
  let outcome: unknown;
  try {
    await call();
    outcome = 'resolved';
  } catch (error) {
    outcome = error;
  }
  expect(outcome, String(outcome)).toBeInstanceOf(ValidationError);
  return outcome as ValidationError;
}

/** Values JSON cannot store as they are, each under a label. */
const unstorable: [string, () => Record<string, unknown>][] = [
  ['circular', circular],
  ['a BigInt', () => ({ n: 10n })],
  ['a nested BigInt', () => ({ list: [1, { n: 10n }] })],
  ['a Symbol key', () => ({ ok: 1, [Symbol('hidden')]: 2 })],
  ['a nested Symbol key', () => ({ inner: { [Symbol.iterator]: 2 } })],
  ['arrays 10,000 deep', () => ({ deep: nested(10_000) })],
  [
    'a getter that throws',
    () =>
      Object.defineProperty({}, 'boom', {
        enumerable: true,
        get() {
          throw new Error('getter exploded');
        },
      }) as Record<string, unknown>,
  ],
  [
    'a toJSON that throws',
    () => ({
      when: {
        toJSON: () => {
          throw new Error('toJSON exploded');
        },
      },
    }),
  ],
];

const badTimes: [string, number][] = [
  ['NaN', Number.NaN],
  ['1e20', 1e20],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['negative', -1],
  ['fractional', 1.5],
];

beforeAll(async () => {
  redis = connect();
  seenn = new Seenn({ connection: redis, prefix });
  parentId = (
    await seenn.jobs.createParent({ queue: QUEUE, userId: 'ivy', jobType: 'album', title: 'Parent', childCount: 3 })
  ).id;
});

afterAll(async () => {
  await seenn.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('jsonProblemOf', () => {
  it('names each problem (with where it is) and accepts what JSON stores', () => {
    expect(jsonProblemOf(circular())).toMatch(/^at `nested.back` refers to itself/);
    expect(jsonProblemOf({ a: [0, { n: 1n }] })).toBe('at `a.1.n` holds a BigInt, which JSON cannot store');
    expect(jsonProblemOf({ [Symbol('s')]: 1 })).toMatch(/Symbol keys/);
    expect(jsonProblemOf(nested(LIMITS.jsonDepth - 1))).toBeNull();
    expect(jsonProblemOf(nested(LIMITS.jsonDepth))).toMatch(/too deeply/);
    expect(jsonProblemOf(unstorable[6]?.[1]())).toMatch(/cannot be turned into JSON \(Error\)/);
    const shared = { x: 1 };
    for (const fine of [{}, { a: [shared, shared] }, { d: new Date(0) }, { f: () => 1, u: undefined }, null, 'text', 3])
      expect(jsonProblemOf(fine)).toBeNull();
  });
});

describe('every producer refuses unstorable input with a coded error and writes nothing', () => {
  it.each(unstorable)('metadata, data and opts holding %s', async (_label, make) => {
    const before = await state();
    const start = { queue: QUEUE, userId: 'ivy', jobType: 'video', title: 'T' };
    const batch = { queue: QUEUE, userId: 'ivy', jobType: 'album', parentTitle: 'P' };
    const calls: [string, () => Promise<unknown>][] = [
      ['start metadata', () => seenn.jobs.start({ ...start, metadata: make() })],
      ['start data', () => seenn.jobs.start({ ...start, data: make() })],
      ['start opts', () => seenn.jobs.start({ ...start, opts: make() })],
      [
        'createParent metadata',
        () => seenn.jobs.createParent({ userId: 'ivy', jobType: 'album', title: 'P', childCount: 2, metadata: make() }),
      ],
      [
        'createChild metadata',
        () =>
          seenn.jobs.createChild({ parentJobId: parentId, childIndex: 0, jobType: 't', title: 'C', metadata: make() }),
      ],
      [
        'createChild data',
        () => seenn.jobs.createChild({ parentJobId: parentId, childIndex: 0, jobType: 't', title: 'C', data: make() }),
      ],
      [
        'createChild opts',
        () => seenn.jobs.createChild({ parentJobId: parentId, childIndex: 0, jobType: 't', title: 'C', opts: make() }),
      ],
      ['createBatch metadata', () => seenn.jobs.createBatch({ ...batch, childTitles: ['a'], metadata: make() })],
      [
        'createBatch child data',
        () => seenn.jobs.createBatch({ ...batch, children: [{ title: 'a' }, { title: 'b', data: make() }] }),
      ],
      [
        'createBatch child metadata',
        () => seenn.jobs.createBatch({ ...batch, children: [{ title: 'a', metadata: make() }] }),
      ],
      ['createBatch opts', () => seenn.jobs.createBatch({ ...batch, childTitles: ['a'], opts: make() })],
      [
        'createBatch parentJob data',
        () => seenn.jobs.createBatch({ ...batch, childTitles: ['a'], parentJob: { data: make() } }),
      ],
    ];
    for (const [what, call] of calls) {
      const error = await codedError(call);
      expect(error.code, what).toBe('VALIDATION_ERROR');
      expect((error.details['issues'] as unknown[]).length, what).toBeGreaterThan(0);
    }
    expect(await state()).toEqual(before);
  });

  it.each(badTimes)('opts.timestamp %s', async (_label, timestamp) => {
    const before = await state();
    const calls = [
      () => seenn.jobs.start({ queue: QUEUE, userId: 'ivy', jobType: 'video', title: 'T', opts: { timestamp } }),
      () =>
        seenn.jobs.createChild({ parentJobId: parentId, childIndex: 0, jobType: 't', title: 'C', opts: { timestamp } }),
      () =>
        seenn.jobs.createBatch({
          queue: QUEUE,
          userId: 'ivy',
          jobType: 'album',
          parentTitle: 'P',
          childTitles: ['a'],
          opts: { timestamp },
        }),
    ];
    for (const call of calls)
      expect((await codedError(call)).details['issues']).toContainEqual(
        expect.objectContaining({ path: expect.stringMatching(/timestamp$/) }),
      );
    expect(await state()).toEqual(before);
  });

  it('opts.delay beyond what a Date can hold', async () => {
    const before = await state();
    for (const delay of [1e20, Number.NaN])
      expect(
        (
          await codedError(() =>
            seenn.jobs.start({ queue: QUEUE, userId: 'ivy', jobType: 'video', title: 'T', opts: { delay } }),
          )
        ).code,
      ).toBe('VALIDATION_ERROR');
    expect(await state()).toEqual(before);
  });

  it('jobs.start refuses opts.repeat, opts.repeatJobKey and opts.parent, as createBatch does', async () => {
    const before = await state();
    // `repeat` left BullMQ 6's public JobsOptions type; plain JavaScript callers can still pass it.
    const refused: [string, JobsOptions][] = [
      ['opts.repeat', { repeat: { every: 1_000 } } as JobsOptions],
      ['opts.repeatJobKey', { repeatJobKey: 'k' }],
      ['opts.parent', { parent: { id: 'p', queue: `${prefix}:${QUEUE}` } }],
    ];
    for (const [path, opts] of refused) {
      const error = await codedError(() =>
        seenn.jobs.start({ queue: QUEUE, userId: 'ivy', jobType: 'video', title: 'T', opts }),
      );
      expect((error.details['issues'] as { path: string }[]).map((issue) => issue.path)).toContain(path);
      const batchError = await codedError(() =>
        seenn.jobs.createBatch({
          queue: QUEUE,
          userId: 'ivy',
          jobType: 'album',
          parentTitle: 'P',
          childTitles: ['a'],
          opts,
        }),
      );
      expect((batchError.details['issues'] as { path: string }[]).map((issue) => issue.path)).toContain(path);
    }
    expect(await state()).toEqual(before);
  });

  it('the valid inputs next to these cases are accepted (the checks are not too wide)', async () => {
    const shared = { k: 1 };
    const job = await seenn.jobs.start({
      queue: QUEUE,
      userId: 'ivy',
      jobType: 'video',
      title: 'T',
      data: { a: shared, b: shared, deep: nested(100) },
      opts: { timestamp: 0, delay: 1_000 },
    });
    expect(job).toMatchObject({ status: 'pending', createdAt: '1970-01-01T00:00:00.000Z' });
  });
});

describe('setProgress options (the worker side of the same schemas)', () => {
  it.each(unstorable)('metadata holding %s is a ValidationError, not a raw throw', (_label, make) => {
    expect(() =>
      parseOrThrow(SetProgressOptionsSchema, { metadata: make() }, 'setProgress options', 'VALIDATION_ERROR'),
    ).toThrow(ValidationError);
  });
});
