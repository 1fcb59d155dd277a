/**
 * The public surface, pinned: what `seenn-bullmq`, `seenn-bullmq/client` and `seenn-bullmq/react`
 * export at run time, and what their declarations show. A change here is a change to the package's
 * API, made on purpose: adding or removing a name fails the exact lists below.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { publicTypes } from './helpers/public-types.js';

describe('public API', () => {
  it('seenn-bullmq', async () => {
    expect(Object.keys(await import('../src/index.js')).sort()).toEqual([
      'ADMIN_DEFAULTS',
      'BRIDGE_DEFAULTS',
      'CHILD_FAILURE_CODE',
      'CHILD_PROGRESS_EVENT',
      'CHILD_PROGRESS_MODES',
      'DEFAULT_OUTPUT_STREAM',
      'ERROR_CODES',
      'HEALTH_DEFAULTS',
      'HIDDEN_FAILURE_MESSAGE',
      'JOB_STATUSES',
      'LAG_COUNT_MAX_ENTRIES',
      'MAX_OUTPUT_CHUNK_BYTES',
      'METRIC_NAMES',
      'OUTPUT_DEFAULTS',
      'POSITION_DEFAULTS',
      'PROCESSOR_DEFAULTS',
      'PUBLISHER_DEFAULTS',
      'SSE_HEADERS',
      'Seenn',
      'SeennError',
      'SeennJobSchema',
      'SeennUserError',
      'TOKEN_DEFAULTS',
      'TOKEN_LIMITS',
      'ValidationError',
      'derivedJobId',
      'isSeennError',
    ]);
  });

  it('seenn-bullmq/client carries no server code', async () => {
    expect(Object.keys(await import('../src/client/index.js')).sort()).toEqual([
      'CLIENT_DEFAULTS',
      'CLIENT_ERROR_CODES',
      'SeennClient',
      'SeennClientError',
      'isFinished',
      'nextReconnectDelayMs',
    ]);
  });

  it('seenn-bullmq/react', async () => {
    expect(Object.keys(await import('../src/client/react.js')).sort()).toEqual([
      'SeennProvider',
      'useConnectionState',
      'useEtaCountdown',
      'useSeennClient',
      'useSeennJob',
      'useSeennJobOutput',
      'useSeennJobs',
      'useSeennParent',
    ]);
  });

  it('the Seenn class has the API names DESIGN.md fixes', async () => {
    const { Seenn } = await import('../src/index.js');
    const methods = Object.getOwnPropertyNames(Seenn.prototype)
      .filter((name) => name !== 'constructor')
      .sort();
    expect(methods).toEqual([
      'admin',
      'bridge',
      'close',
      'healthHandler',
      'metricsHandler',
      'metricsRegistry',
      'processor',
      'publisher',
    ]);
    const redis = new Redis({ lazyConnect: true });
    const seenn = new Seenn({ connection: redis, tokenSecret: 'x'.repeat(32) });
    const jobMethods = Object.getOwnPropertyNames(Object.getPrototypeOf(seenn.jobs))
      .filter((name) => name !== 'constructor')
      .sort();
    expect(jobMethods).toEqual([
      'cancel',
      'createBatch',
      'createChild',
      'createParent',
      'get',
      'getWithChildren',
      'handle',
      'list',
      'start',
    ]);
    expect(typeof seenn.tokens.issue).toBe('function');
    await seenn.close();
    redis.disconnect();
  });

  it('the declarations name no zod type, and every type they show can be imported', { timeout: 60_000 }, () => {
    // Walks every export's public members, parameters, return types and type arguments as the
    // published declarations show them (`stripInternal`: `@internal` and private members are gone).
    const reports = publicTypes(['src/index.ts', 'src/client/index.ts', 'src/client/react.tsx']);
    for (const [entry, report] of reports) expect({ entry, ...report }).toEqual({ entry, zod: [], unexported: [] });
  });
});
