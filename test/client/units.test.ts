/**
 * The client's pure parts: jittered backoff, the replay cursor (ordering and storage), the job cache
 * and option validation. The parts that talk to a bridge are tested against a real one elsewhere.
 */
import { describe, expect, it } from 'vitest';
import { nextReconnectDelayMs } from '../../src/client/backoff.js';
import { Cursor, isAfter } from '../../src/client/cursor.js';
import { SeennClientError } from '../../src/client/errors.js';
import { JobCache, readJob } from '../../src/client/job-cache.js';
import { CLIENT_DEFAULTS, resolveClientOptions, type CursorStorage } from '../../src/client/options.js';
import type { SeennJob } from '../../src/model/job.js';
import { MemoryStorage } from './memory-storage.js';

function job(id: string, fields: Partial<SeennJob> = {}): SeennJob {
  return {
    id,
    jobId: id,
    appId: 'default',
    userId: 'u1',
    jobType: 'video',
    title: `Job ${id}`,
    status: 'running',
    progress: 10,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:01.000Z',
    ...fields,
  };
}

describe('nextReconnectDelayMs', () => {
  it('full jitter stays in [0, min(max, base·2^n)) and follows the random source', () => {
    const base = { mode: 'full' as const, previousMs: 100, baseMs: 100, maxMs: 1_000 };
    expect(nextReconnectDelayMs({ ...base, attempt: 0, random: () => 0 })).toBe(0);
    expect(nextReconnectDelayMs({ ...base, attempt: 0, random: () => 0.5 })).toBe(50);
    expect(nextReconnectDelayMs({ ...base, attempt: 3, random: () => 0.5 })).toBe(400);
    expect(nextReconnectDelayMs({ ...base, attempt: 30, random: () => 0.999 })).toBe(999);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i += 1) {
      const delay = nextReconnectDelayMs({ ...base, attempt: 2, random: Math.random });
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(400);
      seen.add(delay);
    }
    expect(seen.size).toBeGreaterThan(50);
  });

  it('decorrelated jitter stays in [base, min(max, 3·previous)]', () => {
    const input = { mode: 'decorrelated' as const, attempt: 0, baseMs: 100, maxMs: 1_000 };
    expect(nextReconnectDelayMs({ ...input, previousMs: 100, random: () => 0 })).toBe(100);
    expect(nextReconnectDelayMs({ ...input, previousMs: 200, random: () => 0.5 })).toBe(350);
    expect(nextReconnectDelayMs({ ...input, previousMs: 900, random: () => 0.99 })).toBe(1_000);
  });
});

describe('cursor', () => {
  it('orders Redis stream ids numerically, not as strings', () => {
    expect(isAfter('10-0', '9-5')).toBe(true);
    expect(isAfter('5-10', '5-9')).toBe(true);
    expect(isAfter('5-9', '5-9')).toBe(false);
    expect(isAfter('5-1', '6-0')).toBe(false);
    expect(isAfter('1764496800000-12', '1764496800000-9')).toBe(true);
    expect(isAfter('1764496800000-0', '1764496799999-99')).toBe(true);
    expect(isAfter('anything', undefined)).toBe(true);
    expect(isAfter('b', 'a')).toBe(true);
    expect(isAfter('a', 'a')).toBe(false);
  });

  it('keeps the id in storage only when a storage is given, and an explicit id wins', () => {
    const storage = new MemoryStorage();
    const errors: unknown[] = [];
    const cursor = new Cursor(storage, 'k', undefined, (error) => errors.push(error));
    expect(cursor.current).toBeUndefined();
    cursor.set('1-0');
    expect(storage.items.get('k')).toBe('1-0');
    expect(new Cursor(storage, 'k', undefined, () => undefined).current).toBe('1-0');
    expect(new Cursor(storage, 'k', '7-7', () => undefined).current).toBe('7-7');
    cursor.reset();
    expect(storage.items.has('k')).toBe(false);
    expect(errors).toEqual([]);
  });

  it('reports a storage that throws and keeps working in memory', () => {
    const broken: CursorStorage = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('quota');
      },
      removeItem: () => undefined,
    };
    const errors: unknown[] = [];
    const cursor = new Cursor(broken, 'k', undefined, (error) => errors.push(error));
    cursor.set('2-0');
    expect(cursor.current).toBe('2-0');
    expect(errors.map((error) => (error as Error).message)).toEqual(['denied', 'quota']);
  });
});

describe('JobCache', () => {
  it('replaces jobs whole and merges child.progress into a cached parent only', () => {
    const cache = new JobCache(10, () => false);
    cache.replace(job('a', { message: 'first' }));
    cache.replace(job('a', { progress: 50 }));
    expect(cache.get('a')?.message).toBeUndefined();
    expect(cache.get('a')?.progress).toBe(50);
    expect(cache.mergeChildProgress({ parentJobId: 'missing', progress: 10 })).toBeNull();
    cache.replace(job('p', { children: { total: 2, completed: 0, failed: 0, running: 1, pending: 1 } }));
    const merged = cache.mergeChildProgress({
      parentJobId: 'p',
      progress: 50,
      children: { total: 2, completed: 1, failed: 0, running: 1, pending: 0 },
    });
    expect(merged).toMatchObject({ id: 'p', jobId: 'p', progress: 50, title: 'Job p', children: { completed: 1 } });
    expect(merged).not.toHaveProperty('parentJobId');
  });

  it('drops finished, unpinned jobs first when full', () => {
    const pinned = new Set(['done-pinned']);
    const cache = new JobCache(2, (id) => pinned.has(id));
    cache.replace(job('done-pinned', { status: 'completed' }));
    cache.replace(job('done', { status: 'completed' }));
    cache.replace(job('live'));
    expect(cache.get('done')).toBeUndefined();
    expect(cache.get('done-pinned')).toBeDefined();
    expect(cache.get('live')).toBeDefined();
  });

  it('reads either id spelling and rejects non-jobs', () => {
    expect(readJob({ jobId: 'x', status: 'queued', progress: 0 })).toMatchObject({ id: 'x', jobId: 'x' });
    expect(readJob({ id: 'y', status: 'queued', progress: 0 })).toMatchObject({ id: 'y', jobId: 'y' });
    expect(readJob({ status: 'queued', progress: 0 })).toBeNull();
    expect(readJob('nope')).toBeNull();
  });
});

describe('resolveClientOptions', () => {
  it('applies the frozen defaults', () => {
    const resolved = resolveClientOptions({ baseUrl: 'http://x/v1/' });
    expect(Object.isFrozen(CLIENT_DEFAULTS)).toBe(true);
    expect(resolved).toMatchObject({
      baseUrl: 'http://x/v1',
      reconnectBaseMs: 1_000,
      reconnectMaxMs: 30_000,
      heartbeatTimeoutMs: 30_000,
      jitter: 'full',
      transport: 'auto',
      storageKey: 'seenn:lastEventId:default',
    });
  });

  it.each([
    [{ baseUrl: '' }, 'baseUrl'],
    [{ baseUrl: 'http://x', reconnectBaseMs: -1 }, 'reconnectBaseMs'],
    [{ baseUrl: 'http://x', reconnectBaseMs: 500, reconnectMaxMs: 100 }, 'reconnectMaxMs'],
    [{ baseUrl: 'http://x', jitter: 'some' }, 'jitter'],
    [{ baseUrl: 'http://x', transport: 'ws' }, 'transport'],
    [{ baseUrl: 'http://x', token: '' }, 'token'],
    [{ baseUrl: 'http://x', storage: {} }, 'storage'],
    [{ baseUrl: 'http://x', sseFailuresBeforePolling: 0.5 }, 'sseFailuresBeforePolling'],
  ])('rejects %j with a coded error naming %s', (options, option) => {
    let thrown: unknown;
    try {
      resolveClientOptions(options as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SeennClientError);
    expect(thrown).toMatchObject({ code: 'CLIENT_CONFIG_INVALID', details: { option } });
  });
});
