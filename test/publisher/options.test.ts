/**
 * Publisher options: the queue names follow the one queue-name rule of the model (`QueueNameSchema`:
 * 1 to `LIMITS.queueNameChars` characters, no `:`); bad names throw `CONFIG_INVALID`, good ones are kept
 * once each.
 */
import { describe, expect, it } from 'vitest';
import { isSeennError } from '../../src/errors.js';
import { LIMITS } from '../../src/model/job.js';
import { resolvePublisherOptions } from '../../src/publisher/options.js';

function codeOf(queues: string[]): string {
  try {
    resolvePublisherOptions({ queues });
  } catch (error) {
    if (isSeennError(error)) return error.code;
    throw error;
  }
  return 'accepted';
}

describe('publisher options: queue names', () => {
  it.each([
    ['no queue', []],
    ['an empty name', ['']],
    ['a name with ":"', ['a:b']],
    ['a name one character over the limit', ['q'.repeat(LIMITS.queueNameChars + 1)]],
  ])('refuses %s with CONFIG_INVALID', (_label, queues) => {
    expect(codeOf(queues)).toBe('CONFIG_INVALID');
  });

  it('accepts a name at the limit and keeps each name once', () => {
    const longest = 'q'.repeat(LIMITS.queueNameChars);
    expect(resolvePublisherOptions({ queues: [longest, 'emails', longest] }).queues).toEqual([longest, 'emails']);
  });
});
