/**
 * Job data cannot choose a job's Seenn identity or owner (issue 13, finding 1). Apps spread user input
 * into `queue.add` data, so a hostile user controls `job.data` — including the reserved `__seenn` key.
 * Each attack of the audit runs against a real publisher: a fake job in another user's feed, a takeover
 * of another user's job through its guessable derived id, an owner overwrite, and a genuine sealed
 * descriptor copied onto another job. A marker job added after each attack tells when the publisher has
 * handled it (it reads a queue in order).
 */
import { Worker } from 'bullmq';
import { ulid } from 'ulid';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { derivedJobId } from '../../src/index.js';
import { DESCRIPTOR_KEY } from '../../src/model/descriptor.js';
import { connect } from '../helpers/redis.js';
import { Bed } from './harness.js';

const QUEUE = 'forged';
let bed: Bed;
const workers: Worker[] = [];

beforeAll(async () => {
  bed = await new Bed([QUEUE], { label: 'forge' }).start();
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close(true)));
});

afterAll(async () => {
  await bed.close();
});

/** Adds a described job for `userId` and waits until the publisher has shown it: every earlier event of the queue is handled. */
async function marker(userId: string): Promise<void> {
  const job = await bed.queue(QUEUE).add('marker', { userId, title: 'marker' });
  await bed.waitForJob(derivedJobId(QUEUE, job.id as string), () => true, 'marker');
}

/** The titles of a user's jobs. */
async function titles(userId: string): Promise<string[]> {
  return (await bed.seenn.jobs.list(userId, { limit: 100 })).jobs.map((job) => job.title);
}

describe('a descriptor in job data is trusted only when the producer sealed it for that job', () => {
  it('a plain job cannot put a fake job into another user feed (unsealed descriptor, fresh ULID)', async () => {
    const forgedId = ulid();
    await bed.queue(QUEUE).add('phish', {
      [DESCRIPTOR_KEY]: {
        id: forgedId,
        userId: 'victim1',
        jobType: 'security',
        title: 'Your account is locked: sign in at evil.example',
      },
    });
    await marker('victim1');
    expect(await titles('victim1')).toEqual(['marker']);
    expect(await bed.seenn.jobs.get(forgedId)).toBeNull();
    expect(await bed.seenn.context.store.ownerOf(forgedId)).toBeNull();
  });

  it('a plain job cannot take over another user’s job through its derived id, nor rewrite its owner', async () => {
    const queue = bed.queue(QUEUE);
    const victimJob = await queue.add('render', { userId: 'victim2', title: 'Holiday video' }, { delay: 60_000 });
    const victimId = derivedJobId(QUEUE, victimJob.id as string);
    await bed.waitForJob(victimId, (job) => job.status === 'pending', 'victim job');

    await queue.add('render', {
      [DESCRIPTOR_KEY]: { id: victimId, userId: 'mallory2', jobType: 'render', title: 'Hijacked' },
    });
    workers.push(
      new Worker(QUEUE, async (job) => (job.name === 'render' ? { url: 'https://evil.example/x' } : null), {
        connection: connect(),
        prefix: bed.prefix,
      }),
    );
    await marker('mallory2');

    expect(await bed.seenn.context.store.ownerOf(victimId)).toBe('victim2');
    const victim = await bed.seenn.jobs.get(victimId);
    expect(victim).toMatchObject({ userId: 'victim2', title: 'Holiday video', status: 'pending' });
    expect(victim?.result).toBeUndefined();
    expect(await titles('mallory2')).toEqual(['marker']);
  });

  it('a genuine sealed descriptor copied onto another job is refused (bound to the queue and BullMQ id)', async () => {
    const started = await bed.seenn.jobs.start({
      queue: QUEUE,
      userId: 'victim3',
      jobType: 'export',
      title: 'Tax export',
      opts: { delay: 60_000 },
    });
    const original = await bed.queue(QUEUE).getJob(started.id);
    const sealed = (original?.data as Record<string, unknown>)[DESCRIPTOR_KEY];
    expect(sealed).toMatchObject({ v: 1 });

    const copy = await bed.queue(QUEUE).add('export', { [DESCRIPTOR_KEY]: sealed });
    workers.push(
      new Worker(QUEUE, async (job) => (job.id === copy.id ? { stolen: true } : null), {
        connection: connect(),
        prefix: bed.prefix,
      }),
    );
    await marker('victim3');
    const victim = await bed.seenn.jobs.get(started.id);
    expect(victim).toMatchObject({ status: 'pending', title: 'Tax export' });
    expect(victim?.result).toBeUndefined();
  });

  it('a sealed descriptor edited after the fact (job.updateData) is refused', async () => {
    const started = await bed.seenn.jobs.start({
      queue: QUEUE,
      userId: 'victim4',
      jobType: 'export',
      title: 'Invoices',
      opts: { delay: 60_000 },
    });
    const bullJob = await bed.queue(QUEUE).getJob(started.id);
    const sealed = (bullJob?.data as Record<string, Record<string, string>>)[DESCRIPTOR_KEY] as Record<string, string>;
    const edited = { ...sealed, d: (sealed['d'] as string).replace('victim4', 'mallory4') };
    await bullJob?.updateData({ [DESCRIPTOR_KEY]: edited });
    await bullJob?.promote();
    workers.push(new Worker(QUEUE, async () => ({ done: true }), { connection: connect(), prefix: bed.prefix }));
    await marker('victim4');
    expect(await titles('mallory4')).toEqual([]);
    expect(await bed.seenn.context.store.ownerOf(started.id)).toBe('victim4');
  });

  it('jobs started through the producer still work end to end, also for a user id beginning with }', async () => {
    workers.push(new Worker(QUEUE, async () => ({ ok: true }), { connection: connect(), prefix: bed.prefix }));
    const started = await bed.seenn.jobs.start({ queue: QUEUE, userId: '}x', jobType: 'convert', title: 'Brace user' });
    const done = await bed.waitForJob(started.id, (job) => job.status === 'completed', 'brace user job');
    expect(done).toMatchObject({ userId: '}x', result: { ok: true } });
    expect(await titles('}x')).toEqual(['Brace user']);
  });
});
