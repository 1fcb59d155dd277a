import { decodeTime, isValid } from 'ulid';
import { describe, expect, it } from 'vitest';
import { newJobId } from '../../src/model/ids.js';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

describe('newJobId', () => {
  it('makes valid ULIDs stamped with the current time', () => {
    const before = Date.now();
    const id = newJobId();
    const after = Date.now();
    expect(isValid(id)).toBe(true);
    expect(id).toHaveLength(26);
    expect(decodeTime(id)).toBeGreaterThanOrEqual(before);
    expect(decodeTime(id)).toBeLessThanOrEqual(after);
  });

  it('never repeats across many refills of its random pool', () => {
    const ids = Array.from({ length: 50_000 }, () => newJobId());
    expect(new Set(ids).size).toBe(ids.length);
    // Ids of one millisecond differ in their random part, not only across milliseconds.
    expect(new Set(ids.map((id) => id.slice(10))).size).toBe(ids.length);
  });

  it('draws every random character uniformly from all 32 symbols', () => {
    const counts = Array.from({ length: 16 }, () => new Map<string, number>());
    const n = 20_000;
    for (let i = 0; i < n; i += 1) {
      const random = newJobId().slice(10);
      for (let position = 0; position < 16; position += 1) {
        const char = random[position] as string;
        const byChar = counts[position] as Map<string, number>;
        byChar.set(char, (byChar.get(char) ?? 0) + 1);
      }
    }
    for (const byChar of counts) {
      expect([...byChar.keys()].sort().join('')).toBe(CROCKFORD);
      // Expected 625 per symbol; a broken source (constant, or a few bits only) is far outside ±30 %.
      for (const count of byChar.values()) expect(Math.abs(count - n / 32)).toBeLessThan((n / 32) * 0.3);
    }
  });
});
