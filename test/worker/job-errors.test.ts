import { DelayedError, RateLimitError, UnrecoverableError, WaitingChildrenError, WaitingError, Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/model/job.js';
import {
  HIDDEN_FAILURE_MESSAGE,
  SeennUserError,
  isControlFlowError,
  isUserFacingError,
  jobErrorOf,
} from '../../src/worker/job-errors.js';

/** An error that only looks like BullMQ's by name (another copy of BullMQ, or rebuilt from IPC). */
function named(name: string): Error {
  const error = new Error('moved');
  error.name = name;
  return error;
}

describe('isControlFlowError', () => {
  it("recognises BullMQ's control-flow errors by class and by name", () => {
    for (const error of [
      new DelayedError(),
      new WaitingChildrenError(),
      new WaitingError(),
      new RateLimitError(),
      Worker.RateLimitError(),
    ])
      expect(isControlFlowError(error)).toBe(true);
    for (const name of ['DelayedError', 'WaitingChildrenError', 'WaitingError', 'RateLimitError'])
      expect(isControlFlowError(named(name))).toBe(true);
  });

  it('treats everything else as a failure', () => {
    for (const error of [
      new Error('boom'),
      new UnrecoverableError('final'),
      named('TypeError'),
      'DelayedError',
      null,
      undefined,
      42,
    ])
      expect(isControlFlowError(error)).toBe(false);
  });
});

describe('jobErrorOf', () => {
  const hidden = HIDDEN_FAILURE_MESSAGE;

  it('shows the code and message of an error marked as meant for users', () => {
    expect(jobErrorOf(new SeennUserError('QUOTA_EXCEEDED', 'over quota'))).toEqual({
      code: 'QUOTA_EXCEEDED',
      message: 'over quota',
    });
    expect(jobErrorOf(Object.assign(new Error('over quota'), { code: 'QUOTA_EXCEEDED', expose: true }))).toEqual({
      code: 'QUOTA_EXCEEDED',
      message: 'over quota',
    });
    expect(jobErrorOf(Object.assign(new UnrecoverableError('bad file'), { code: 'BAD_FILE', expose: true }))).toEqual({
      code: 'BAD_FILE',
      message: 'bad file',
    });
    expect(jobErrorOf({ code: 'PLAIN_OBJECT', message: 'from a plain object', expose: true })).toEqual({
      code: 'PLAIN_OBJECT',
      message: 'from a plain object',
    });
    // Inherited, as http-errors sets it on its classes' prototypes.
    class Exposed extends Error {}
    Object.defineProperty(Exposed.prototype, 'expose', { value: true });
    expect(jobErrorOf(Object.assign(new Exposed('inherited'), { code: 'INHERITED' }))).toEqual({
      code: 'INHERITED',
      message: 'inherited',
    });
  });

  it('hides everything of an error that is not marked, even with a string code', () => {
    const leaky = [
      new Error('connect to postgres://admin:s3cret@db.internal:5432/app failed'),
      Object.assign(new Error("Access denied for user 'root'@'10.0.0.5' (using password: YES)"), {
        code: 'ER_ACCESS_DENIED_ERROR',
      }),
      Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:6379'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('over quota'), { code: 'QUOTA_EXCEEDED' }),
      Object.assign(new Error('flag is not true'), { code: 'QUOTA_EXCEEDED', expose: 'true' }),
      'a thrown string with a secret',
      { message: 'plain object with a secret' },
      null,
      undefined,
      42,
    ];
    for (const error of leaky) expect(jobErrorOf(error)).toEqual({ code: 'JOB_FAILED', message: hidden });
    expect(JSON.stringify(leaky.map(jobErrorOf))).not.toMatch(/s3cret|root|10\.0\.0\.5|secret|quota/);
  });

  it('ignores exposed codes that do not look like codes', () => {
    const exposed = (code: unknown): Error => Object.assign(new Error('shown'), { code, expose: true });
    for (const code of ['ECONNREFUSED-x', 'not_a_code', 42, `A${'B'.repeat(64)}`, undefined])
      expect(jobErrorOf(exposed(code))).toEqual({ code: 'JOB_FAILED', message: 'shown' });
    expect(jobErrorOf(Object.assign(new UnrecoverableError('final'), { code: 'lower', expose: true }))).toEqual({
      code: 'UNRECOVERABLE',
      message: 'final',
    });
    expect(jobErrorOf({ expose: true, message: 7 })).toEqual({ code: 'JOB_FAILED', message: hidden });
  });

  it('maps UnrecoverableError to UNRECOVERABLE and anything else to JOB_FAILED', () => {
    expect(jobErrorOf(new UnrecoverableError('no retry'))).toEqual({ code: 'UNRECOVERABLE', message: hidden });
    expect(jobErrorOf(named('UnrecoverableError'))).toEqual({ code: 'UNRECOVERABLE', message: hidden });
    expect(jobErrorOf(new Error('boom'))).toEqual({ code: 'JOB_FAILED', message: hidden });
  });

  it('bounds the message', () => {
    const { message } = jobErrorOf(new SeennUserError('LONG', 'x'.repeat(LIMITS.errorMessageChars + 500)));
    expect(message).toHaveLength(LIMITS.errorMessageChars);
  });
});

describe('SeennUserError', () => {
  it('is an Error with its code, the expose flag and a cause kept for logs', () => {
    const cause = new Error('db down');
    const error = new SeennUserError('TRY_LATER', 'Please try again in a minute', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      name: 'SeennUserError',
      code: 'TRY_LATER',
      expose: true,
      message: 'Please try again in a minute',
      cause,
    });
    expect(isUserFacingError(error)).toBe(true);
    expect(isUserFacingError(new Error('no'))).toBe(false);
  });
});
