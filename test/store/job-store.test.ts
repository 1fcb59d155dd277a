import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../src/model/record.js';
import type { JobStore } from '../../src/store/job-store.js';
import { userTag, type SeennKeys } from '../../src/store/keys.js';
import { liveNotifications } from '../../src/store/live-fanout.js';
import { connect } from '../helpers/redis.js';
import { openStoreBed, queuedRecord, type StoreBed } from '../helpers/store-bed.js';
import { waitFor } from '../helpers/wait.js';

let bed: StoreBed;
let redis: Redis;
let store: JobStore;
let keys: SeennKeys;
let prefix: string;

function record(id: string, createdAtMs: number, userId = 'alice'): JobRecord {
  return queuedRecord(id, createdAtMs, userId);
}

beforeAll(() => {
  bed = openStoreBed('store');
  ({ prefix, redis, keys, store } = bed);
});

afterAll(() => bed.close());

describe('JobStore', () => {
  it('derives every key from the prefix and puts one user in one hash tag derived from a hash of the id', () => {
    const tag = userTag('u1');
    expect(tag).toMatch(/^[0-9a-f]{8}$/);
    expect(keys.job('u1', 'j1')).toBe(`${prefix}:seenn:default:u:{${tag}}:u1:job:j1`);
    expect(keys.stream('u1')).toBe(`${prefix}:seenn:default:u:{${tag}}:u1:stream`);
    expect(keys.userJobs('u1')).toBe(`${prefix}:seenn:default:u:{${tag}}:u1:jobs`);
    expect(keys.bullEvents('video')).toBe(`${prefix}:video:events`);
  });

  it('keeps every key of a user id holding braces, colons or spaces under one tag, with no raw user text', () => {
    for (const userId of ['}x', '{}', '}{a}', 'a:b', 'a b/c', '\u00e9l\u00e8ve']) {
      const names = [keys.job(userId, 'j1'), keys.stream(userId), keys.userJobs(userId), keys.children(userId, 'p1')];
      // Redis hashes the text between the first `{` and the first `}` after it.
      const tags = names.map((name) => {
        const open = name.indexOf('{');
        return name.slice(open + 1, name.indexOf('}', open + 1));
      });
      expect(new Set(tags)).toEqual(new Set([userTag(userId)]));
      expect(names.every((name) => name.includes(`:${encodeURIComponent(userId)}:`))).toBe(true);
    }
    expect(userTag('a')).not.toBe(userTag('b'));
  });

  it('writes owners once: claimOwner and setOwners never move a job to another user', async () => {
    expect(await store.claimOwner('own-1', 'alice')).toBe(true);
    expect(await store.claimOwner('own-1', 'alice')).toBe(true);
    expect(await store.claimOwner('own-1', 'mallory')).toBe(false);
    await expect(store.setOwners('mallory', ['own-2', 'own-1'])).rejects.toMatchObject({
      code: 'CONFLICT',
      details: { jobIds: ['own-1'] },
    });
    expect(await store.ownerOf('own-1')).toBe('alice');
    expect(await store.ownerOf('own-2')).toBe('mallory');
  });

  it('setOwners accepts ids the same user already holds (a write ioredis sent again after a dropped connection)', async () => {
    await store.setOwners('alice', ['own-3']);
    await store.setOwners('alice', ['own-3', 'own-4']);
    await expect(store.setOwners('mallory', ['own-3'])).rejects.toMatchObject({
      code: 'CONFLICT',
      details: { jobIds: ['own-3'] },
    });
    expect(await store.ownerOf('own-3')).toBe('alice');
    expect(await store.ownerOf('own-4')).toBe('alice');
  });

  it('commitNew counts a first write sent again (same snapshot already stored) as done, once; another snapshot under the id is a conflict', async () => {
    const created = record('new-1', 2_000, 'carol');
    const change = {
      expectedVersion: 0,
      record: created,
      event: { name: 'job.started', data: JSON.stringify(created.job) },
      index: true,
    };
    expect((await store.commitNew('carol', [change])).status).toBe('ok');
    // What ioredis does after a dropped connection: the same script again.
    expect((await store.commitNew('carol', [change])).status).toBe('ok');
    expect(await redis.xlen(keys.stream('carol'))).toBe(1);
    const other = record('new-1', 2_000, 'carol');
    other.job.title = 'Someone else';
    expect((await store.commitNew('carol', [{ ...change, record: other }])).status).toBe('conflict');
    await expect(store.commitNew('carol', [{ ...change, expectedVersion: 1 }])).rejects.toMatchObject({
      code: 'INTERNAL_ERROR',
    });
  });

  it('commits a snapshot with its event, then refuses a stale source id and a moved version', async () => {
    const created = record('j1', 1_000);
    const first = await store.commit('alice', [
      {
        expectedVersion: 0,
        src: '5-0',
        record: created,
        event: { name: 'job.started', data: JSON.stringify(created.job) },
        index: true,
      },
    ]);
    expect(first.status).toBe('ok');
    const ids = first.status === 'ok' ? first.entryIds : [];
    expect(ids).toHaveLength(1);

    const snapshot = await store.read('alice', 'j1');
    expect(snapshot).toMatchObject({ version: 1, src: '5-0' });
    expect(snapshot?.record.job.title).toBe('Job j1');

    expect((await store.commit('alice', [{ expectedVersion: 1, src: '5-0', record: created }])).status).toBe(
      'duplicate',
    );
    expect((await store.commit('alice', [{ expectedVersion: 1, src: '4-9', record: created }])).status).toBe(
      'duplicate',
    );
    expect((await store.commit('alice', [{ expectedVersion: 0, src: '6-0', record: created }])).status).toBe(
      'conflict',
    );
    expect((await store.read('alice', 'j1'))?.version).toBe(1);

    const entries = await store.readStream('alice', '0-0', 10);
    expect(entries).toEqual([{ id: ids[0], event: 'job.started', data: JSON.stringify(created.job) }]);
  });

  it('appends several events of one change in order, and publishes them in one message', async () => {
    const subscriber = connect();
    const messages: string[] = [];
    await subscriber.subscribe(keys.liveChannel());
    subscriber.on('message', (_channel: string, message: string) => messages.push(message));
    const rec = record('multi', 3_000, 'multi');
    const steps = [1, 2, 3].map((progress) => ({
      name: 'job.progress',
      data: JSON.stringify({ ...rec.job, progress }),
    }));
    const result = await store.commit('multi', [
      { expectedVersion: 0, src: '7-0', record: rec, events: steps, index: true },
    ]);
    expect(result.status).toBe('ok');
    const entries = await store.readStream('multi', '0-0', 10);
    expect(entries.map((entry) => entry.data)).toEqual(steps.map((step) => step.data));
    expect(result.status === 'ok' ? result.entryIds : []).toEqual(entries.map((entry) => entry.id));
    await waitFor(() => messages.length === 1, { what: 'the live message' });
    expect(messages[0]).toBe(
      ['multi', ...entries.flatMap((entry) => [entry.id, 'job.progress', entry.data])].join('\n'),
    );
    expect(liveNotifications(messages[0] as string)).toEqual(
      entries.map((entry) => `multi\n${entry.id}\njob.progress\n${entry.data}`),
    );
    await subscriber.quit();
  });

  it('compares source ids numerically, not as strings', async () => {
    const created = record('j2', 2_000);
    expect((await store.commit('alice', [{ expectedVersion: 0, src: '999-5', record: created }])).status).toBe('ok');
    expect((await store.commit('alice', [{ expectedVersion: 1, src: '1000-0', record: created }])).status).toBe('ok');
    expect((await store.commit('alice', [{ expectedVersion: 2, src: '999-10', record: created }])).status).toBe(
      'duplicate',
    );
  });

  it('lists a user newest first across pages, with ties on creation time', async () => {
    const user = 'lister';
    const createdAt = [10_000, 20_000, 20_000, 20_000, 30_000, 40_000, 40_000];
    for (const [i, at] of createdAt.entries()) {
      const rec = record(`l${i}`, at, user);
      await store.commit(user, [{ expectedVersion: 0, record: rec, index: true }]);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list(user, cursor === undefined ? { limit: 2 } : { limit: 2, cursor });
      seen.push(...page.records.map((r) => r.job.id));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(seen).toHaveLength(createdAt.length);
    expect(new Set(seen).size).toBe(createdAt.length);
    const times = seen.map((id) => createdAt[Number(id.slice(1))] as number);
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });
});
