/**
 * The slot checker computes Redis Cluster slots as Redis does and records every command, script and
 * pipeline whose keys span slots — on one Redis too, where such calls succeed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { connect, deletePrefix } from '../helpers/redis.js';
import { installSlotChecker, keySlot, type SlotChecker } from '../helpers/slot-checker.js';

let redis: Redis;
let checker: SlotChecker;
// Never hash-tagged, even on a cluster run: the keys must span slots.
const prefix = `slots-${randomUUID().slice(0, 8)}`;

beforeAll(() => {
  redis = connect();
  checker = installSlotChecker();
});

afterAll(async () => {
  checker.uninstall();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('slot checker', () => {
  it('computes the slots Redis documents (CLUSTER KEYSLOT), hash tags included', () => {
    expect(keySlot('somekey')).toBe(11058);
    expect(keySlot('foo{hash_tag}')).toBe(2515);
    expect(keySlot('bar{hash_tag}')).toBe(2515);
    // An empty tag `{}` does not count: the whole key is hashed.
    expect(keySlot('a{}b')).not.toBe(keySlot('c{}b'));
    expect(keySlot('x{}{y}')).toBe(keySlot('x{}{y}'));
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
  });

  it('records a pipeline, a multi-key command and a script whose keys span slots, and nothing else', async () => {
    checker.reset();
    const [a, b] = [`${prefix}:a`, `${prefix}:b`];
    const [ta, tb] = [`${prefix}:{t}:a`, `${prefix}:{t}:b`];
    expect(keySlot(a)).not.toBe(keySlot(b));
    await redis.pipeline().set(ta, '1').set(tb, '2').exec();
    await redis.mget(ta, tb);
    await redis.eval('return 1', 2, ta, tb);
    expect(checker.violations).toEqual([]);
    expect(checker.checked.pipelines).toBe(1);

    // On one Redis these succeed; on a cluster run Redis or ioredis refuses them. Recorded either way.
    await redis
      .pipeline()
      .set(a, '1')
      .set(b, '2')
      .exec()
      .catch(() => undefined);
    await redis.mget(a, b).catch(() => undefined);
    await redis.eval('return 1', 2, a, b).catch(() => undefined);
    // On a cluster a command ioredis re-sends after a MOVED redirection (its slot map still loading)
    // is checked, and recorded, once per send: compare the kinds in order without repeats.
    const kinds = checker.violations.map((violation) => violation.kind);
    expect(kinds.filter((kind, i) => kind !== kinds[i - 1])).toEqual(['pipeline', 'mget', 'eval']);
    expect(checker.violations[0]?.keys.map((entry) => entry.key)).toEqual([a, b]);
  });
});
