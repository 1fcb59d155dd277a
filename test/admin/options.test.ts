/**
 * `seenn.admin(options)`: bad options throw `CONFIG_INVALID` (without echoing the token), defaults
 * apply, and a closed Seenn's admin route refuses requests.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_DEFAULTS, isSeennError, Seenn, type AdminOptions, type SeennError } from '../../src/index.js';
import { connect, deletePrefix, uniquePrefix } from '../helpers/redis.js';
import { ADMIN_TOKEN, call, envelope, startBed } from './harness.js';

const prefix = uniquePrefix('admopt');
let redis: Redis;
let seenn: Seenn;

beforeAll(() => {
  redis = connect();
  seenn = new Seenn({ connection: redis, prefix });
});

afterAll(async () => {
  await seenn.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

function thrown(build: () => unknown): SeennError {
  try {
    build();
  } catch (error) {
    if (isSeennError(error)) return error;
    throw error;
  }
  throw new Error('expected seenn.admin() to throw');
}

describe('seenn.admin options', () => {
  const token = { token: ADMIN_TOKEN };
  const shortSecret = 'short-secret-value-0123456789';
  const cases: Record<string, unknown> = {
    'no options': undefined,
    'no auth': { queues: ['q'] },
    'token too short': { auth: { token: shortSecret }, queues: ['q'] },
    'token with a space': { auth: { token: `${ADMIN_TOKEN} x` }, queues: ['q'] },
    'token not a string': { auth: { token: 1234 }, queues: ['q'] },
    'authenticate not a function': { auth: { authenticate: true }, queues: ['q'] },
    'token and authenticate': { auth: { token: ADMIN_TOKEN, authenticate: () => true }, queues: ['q'] },
    'auth of the bridge': { auth: { secret: ADMIN_TOKEN }, queues: ['q'] },
    'no queues': { auth: token },
    'empty queues': { auth: token, queues: [] },
    'queue name with a colon': { auth: token, queues: ['a:b'] },
    'queue name empty': { auth: token, queues: [''] },
    'readOnly not a boolean': { auth: token, queues: ['q'], readOnly: 'no' },
    'boardPath without a slash': { auth: token, queues: ['q'], boardPath: 'queues' },
    'boardPath with a trailing slash': { auth: token, queues: ['q'], boardPath: '/queues/' },
    'boardPath root': { auth: token, queues: ['q'], boardPath: '/' },
    'boardPath under /api': { auth: token, queues: ['q'], boardPath: '/api/board' },
    'boardPath on the page assets': { auth: token, queues: ['q'], boardPath: '/assets' },
    'boardPath on metrics': { auth: token, queues: ['q'], boardPath: '/metrics' },
    'boardPath with a space': { auth: token, queues: ['q'], boardPath: '/my board' },
    'unknown option': { auth: token, queues: ['q'], board: true },
  };

  for (const [name, options] of Object.entries(cases)) {
    it(`throws CONFIG_INVALID: ${name}`, () => {
      const error = thrown(() => seenn.admin(options as AdminOptions<never>));
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).toMatch(/^Invalid admin options/);
      expect(Array.isArray(error.details['issues'])).toBe(true);
      const text = `${error.message} ${JSON.stringify(error.details)}`;
      expect(text).not.toContain(ADMIN_TOKEN);
      expect(text).not.toContain(shortSecret);
    });
  }

  it('applies the defaults: read-only, bull-board at /queues; queue names are deduplicated', () => {
    expect(ADMIN_DEFAULTS).toEqual({ readOnly: true, boardPath: '/queues' });
    expect(Object.isFrozen(ADMIN_DEFAULTS)).toBe(true);
    const router = seenn.admin({ auth: token, queues: ['a', 'b', 'a'] });
    expect(router.admin.options).toMatchObject({ readOnly: true, boardPath: '/queues', queues: ['a', 'b'] });
    expect(seenn.admin({ auth: token, queues: ['a'], readOnly: false, boardPath: null }).admin.options).toMatchObject({
      readOnly: false,
      boardPath: null,
    });
  });
});

describe('a closed admin route', () => {
  it('refuses requests once its Seenn is closed', async () => {
    const bed = await startBed();
    try {
      bed.mount('/admin', { auth: { token: ADMIN_TOKEN }, queues: ['q'] });
      expect((await call(`${bed.origin}/admin/api/queues`, { token: ADMIN_TOKEN })).status).toBe(200);
      await bed.seenn.close();
      for (const path of ['/api/queues', '/queues']) {
        const answer = await call(`${bed.origin}/admin${path}`, { token: ADMIN_TOKEN });
        expect(answer.status, path).toBe(503);
        expect(envelope(answer)).toMatchObject({ code: 'SHUTTING_DOWN', message: 'the admin route is shut down' });
      }
    } finally {
      await bed.close();
    }
  });
});
