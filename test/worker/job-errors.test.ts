import { DelayedError, RateLimitError, UnrecoverableError, WaitingChildrenError, WaitingError, Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/model/job.js';
import { isControlFlowError, jobErrorOf } from '../../src/worker/job-errors.js';

/** An error that only looks like BullMQ's by name (another copy of BullMQ, or rebuilt from IPC). */
function named(name: string): Error {
  const error = new Error('moved');
  error.name = name;
  return error;
}

describe('isControlFlowError', () => {
  it("recognises BullMQ's control-flow errors by class and by name", () => {
    for (const error of [new DelayedError(), new WaitingChildrenError(), new WaitingError(), new RateLimitError(), Worker.RateLimitError()]) expect(isControlFlowError(error)).toBe(true);
    for (const name of ['DelayedError', 'WaitingChildrenError', 'WaitingError', 'RateLimitError']) expect(isControlFlowError(named(name))).toBe(true);
  });

  it('treats everything else as a failure', () => {
    for (const error of [new Error('boom'), new UnrecoverableError('final'), named('TypeError'), 'DelayedError', null, undefined, 42]) expect(isControlFlowError(error)).toBe(false);
  });
});

describe('jobErrorOf', () => {
  it("uses the error's own code when it looks like a code", () => {
    expect(jobErrorOf(Object.assign(new Error('over quota'), { code: 'QUOTA_EXCEEDED' }))).toEqual({ code: 'QUOTA_EXCEEDED', message: 'over quota' });
    expect(jobErrorOf(Object.assign(new UnrecoverableError('bad file'), { code: 'BAD_FILE' }))).toEqual({ code: 'BAD_FILE', message: 'bad file' });
  });

  it('ignores codes that do not look like codes', () => {
    expect(jobErrorOf(Object.assign(new Error('refused'), { code: 'ECONNREFUSED-x' })).code).toBe('JOB_FAILED');
    expect(jobErrorOf(Object.assign(new Error('lower'), { code: 'not_a_code' })).code).toBe('JOB_FAILED');
    expect(jobErrorOf(Object.assign(new Error('number'), { code: 42 })).code).toBe('JOB_FAILED');
    expect(jobErrorOf(Object.assign(new Error('long'), { code: `A${'B'.repeat(64)}` })).code).toBe('JOB_FAILED');
  });

  it('maps UnrecoverableError to UNRECOVERABLE and anything else to JOB_FAILED', () => {
    expect(jobErrorOf(new UnrecoverableError('no retry'))).toEqual({ code: 'UNRECOVERABLE', message: 'no retry' });
    expect(jobErrorOf(named('UnrecoverableError'))).toEqual({ code: 'UNRECOVERABLE', message: 'moved' });
    expect(jobErrorOf(new Error('boom'))).toEqual({ code: 'JOB_FAILED', message: 'boom' });
    expect(jobErrorOf('a string')).toEqual({ code: 'JOB_FAILED', message: 'a string' });
    expect(jobErrorOf({ message: 'plain object' })).toEqual({ code: 'JOB_FAILED', message: 'plain object' });
  });

  it('bounds the message', () => {
    const { message } = jobErrorOf(new Error('x'.repeat(LIMITS.errorMessageChars + 500)));
    expect(message).toHaveLength(LIMITS.errorMessageChars);
  });
});
