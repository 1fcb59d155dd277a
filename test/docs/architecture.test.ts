/**
 * docs/architecture.md names files as where an invariant is enforced or tested: each one must exist,
 * so the page cannot drift silently when code moves.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('docs/architecture.md', () => {
  it('names only files that exist', () => {
    const text = readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
    // Every path with a folder (`src/…`, `test/…`, `bench/…`), plus the root files the page names.
    const named = [
      ...text.matchAll(/`((?:src|test|bench|docs)\/[^`\s]*[^`\s/]|eslint\.config\.js|tsconfig\.build\.json)`/g),
    ].map((match) => match[1] ?? '');
    const paths = [...new Set(named)];
    expect(paths.length).toBeGreaterThan(60);
    expect(paths.filter((name) => !existsSync(path.join(ROOT, name)))).toEqual([]);
  });
});
