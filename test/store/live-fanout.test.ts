import { describe, expect, it } from 'vitest';
import { liveNotifications } from '../../src/store/live-fanout.js';

describe('liveNotifications', () => {
  it('gives a one-event message back as it is', () => {
    const message = 'ada\n1-0\njob.progress\n{"id":"a"}';
    expect(liveNotifications(message)).toEqual([message]);
  });

  it('splits a message of several events into one notification per event, in order', () => {
    const message = [
      'ada',
      '1-0',
      'job.started',
      '{"id":"a"}',
      '1-1',
      'job.progress',
      '{"id":"a","p":1}',
      '2-0',
      'job.completed',
      '{"id":"b"}',
    ].join('\n');
    expect(liveNotifications(message)).toEqual([
      'ada\n1-0\njob.started\n{"id":"a"}',
      'ada\n1-1\njob.progress\n{"id":"a","p":1}',
      'ada\n2-0\njob.completed\n{"id":"b"}',
    ]);
  });

  it('leaves what is not a sequence of events to the caller (output notifications, malformed messages)', () => {
    for (const message of ['ada\n>output\nj1\n{}\n{}', 'ada', 'ada\n1-0\njob.progress\n{}\nstray', ''])
      expect(liveNotifications(message)).toEqual([message]);
  });
});
