/**
 * Lua and Redis key names live in `src/store/` (issue 17): every script in `src/store/lua/`, every key
 * built by `src/store/keys.ts`. This test reads the source outside `src/store/` and fails on Lua
 * (a `redis.call(`, a `luaScript(`, an EVAL) or on a template string that builds a Redis key (a
 * prefix, base, queue or key root followed by `:`, or one of BullMQ's queue-key suffixes).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SRC = path.join(ROOT, 'src');

/** Lua, or a script run by hand. */
const LUA = [/\bredis\.p?call\s*\(/, /\bluaScript\s*\(/, /\.(eval|evalsha)\s*\(/, /\bKEYS\[\d/];

const BULL_SUFFIXES =
  'wait|meta|events|active|prioritized|delayed|completed|failed|limiter|waiting-children|paused|stalled|marker';
/** A Redis key built by hand: `${…prefix|base|keys|queue|root…}:…`, or a BullMQ queue-key suffix. */
const KEY_BUILDING = [
  /`[^`\n]*\$\{[^}\n]*(prefix|\bbase\b|keys\b|queueName|queueKey|[rR]oot)[^}\n]*\}:[^`\n]*`/,
  new RegExp(`\\}:(${BULL_SUFFIXES})\\b`),
  new RegExp(`['"\`]:(${BULL_SUFFIXES})['"\`]`),
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return /\.tsx?$/.test(entry.name) ? [full] : [];
  });
}

/** `file:line: text` for each code line of `files` (comment lines skipped) that one of `patterns` matches. */
function offenders(files: readonly string[], patterns: readonly RegExp[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    const name = path.relative(ROOT, file).split(path.sep).join('/');
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (/^\s*(\/\/|\/\*|\*)/.test(line)) return;
        if (patterns.some((pattern) => pattern.test(line))) found.push(`${name}:${i + 1}: ${line.trim()}`);
      });
  }
  return found;
}

const outsideStore = sourceFiles(SRC).filter((file) => !path.relative(SRC, file).startsWith(`store${path.sep}`));

describe('Lua and key names stay in src/store/', () => {
  it('the patterns catch Lua and hand-built keys (and pass plain code)', () => {
    const lua = [
      "redis.call('GET', KEYS[1])",
      "const s = luaScript('x', src);",
      'await redis.eval(source, 1, key);',
      'await redis.evalsha(sha, 0);',
    ];
    for (const line of lua)
      expect(
        LUA.some((pattern) => pattern.test(line)),
        line,
      ).toBe(true);
    const keys = [
      'const k = `${keys.prefix}:${queue}:meta`;',
      'const base = `${ctx.keys.base}:idem:${scope}`;',
      'lrange(`${base}:wait`, 0, -1)',
      "const k = prefix + ':events';",
      'const k = `${queueRoot}:x`;',
    ];
    for (const line of keys)
      expect(
        KEY_BUILDING.some((pattern) => pattern.test(line)),
        line,
      ).toBe(true);
    const plain = [
      'const id = `${hostname()}:${process.pid}`;',
      'queueRuns.push(`${finishedAtMs}:${rounded}`);',
      'await runCall(redis, call);',
      'const key = ctx.keys.bull(queueName).meta;',
    ];
    for (const line of plain)
      expect(
        [...LUA, ...KEY_BUILDING].some((pattern) => pattern.test(line)),
        line,
      ).toBe(false);
  });

  it('has every Lua script in src/store/', () => {
    expect(outsideStore.length).toBeGreaterThan(50);
    expect(offenders(outsideStore, LUA)).toEqual([]);
  });

  it('builds every Redis key in src/store/keys.ts', () => {
    expect(offenders(outsideStore, KEY_BUILDING)).toEqual([]);
  });
});
