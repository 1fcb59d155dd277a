/**
 * Redis is reached only through `src/store/` (DESIGN.md, issue 17 item 2). This test type-checks
 * `src/` and fails on any method call, outside `src/store/`, whose receiver is an ioredis object — a
 * `Redis`, a `Cluster`, a pipeline or a transaction (a command, `pipeline()`, `duplicate()`, `on()`,
 * `quit()`, …). Passing a connection on (to a store module, to BullMQ) is not a call on it.
 *
 * `EXCEPTIONS` names the files outside `src/store/` that still make such calls today: folders other
 * work converts (issue 17). It can only shrink: a listed file that makes no call any more fails too,
 * so its name leaves the list in the change that moves its calls.
 */
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Files outside `src/store/` that still call Redis directly. Empty it, never grow it. */
const EXCEPTIONS: readonly string[] = [];

/** `src/` files as one program (the repository's compiler options). */
function program(): ts.Program {
  const configPath = path.join(ROOT, 'tsconfig.json');
  const config = ts.readConfigFile(configPath, (file) => ts.sys.readFile(file));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  const files = parsed.fileNames.filter((file) => path.relative(ROOT, file).split(path.sep)[0] === 'src');
  return ts.createProgram(files, { ...parsed.options, noEmit: true });
}

/** Whether `type` (or a member of its union or intersection) is declared by ioredis. */
function isIoredis(type: ts.Type): boolean {
  if (type.isUnionOrIntersection()) return type.types.some(isIoredis);
  const symbol = type.getSymbol() ?? type.aliasSymbol;
  return (symbol?.getDeclarations() ?? []).some((declaration) =>
    /[\\/]node_modules[\\/]ioredis[\\/]/.test(declaration.getSourceFile().fileName),
  );
}

/** Per `src/` file (relative path), the `line: call` of each method call on an ioredis object. */
function redisCalls(): Map<string, string[]> {
  const built = program();
  const checker = built.getTypeChecker();
  const found = new Map<string, string[]>();
  for (const source of built.getSourceFiles()) {
    const name = path.relative(ROOT, source.fileName).split(path.sep).join('/');
    if (!name.startsWith('src/')) continue;
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
        const receiver = node.expression.expression;
        if (isIoredis(checker.getTypeAtLocation(receiver))) {
          const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
          const list = found.get(name) ?? [];
          const text = receiver.getText(source).replace(/\s+/g, '');
          list.push(`${line}: ${text.length > 40 ? '…' : text}.${node.expression.name.text}()`);
          found.set(name, list);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

describe('Redis is reached only through src/store/', () => {
  const calls = redisCalls();
  const outside = [...calls].filter(([file]) => !file.startsWith('src/store/'));

  it('sees the calls the store makes (the check works)', () => {
    const history = calls.get('src/store/history-store.ts') ?? [];
    expect(history.some((call) => call.endsWith(' this.redis.pipeline()'))).toBe(true);
    expect(history.some((call) => call.endsWith(' pipeline.lrange()'))).toBe(true);
    expect(history.some((call) => call.endsWith(' this.redis.lrange()'))).toBe(true);
    expect(calls.get('src/store/connection-set.ts')?.some((call) => call.endsWith(' connection.on()'))).toBe(true);
  });

  it('has no Redis call outside src/store/ but in the listed exceptions', () => {
    const unlisted = outside.filter(([file]) => !EXCEPTIONS.includes(file));
    expect(Object.fromEntries(unlisted)).toEqual({});
  });

  it('lists no exception that the code no longer needs', () => {
    const stale = EXCEPTIONS.filter((file) => !calls.has(file));
    expect(stale).toEqual([]);
  });
});
