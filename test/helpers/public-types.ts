/**
 * Walks the types a package entry point shows its users — every export, and through it every public
 * property, parameter, return type and type argument — the way the published declarations show them:
 * `private` members and `@internal` ones (which `stripInternal` removes from `dist/`) are skipped.
 * Reports the zod types it meets and the named types declared in `src/` that the entry does not
 * export (a user could not name them, e.g. to type a variable passed to an exported function).
 */
import path from 'node:path';
import ts from 'typescript';

export interface PublicTypesReport {
  /** `where → zod type` for every zod type the walk meets. */
  zod: string[];
  /** `name (at where)` for each `src/` type the walk meets that no entry exports. */
  unexported: string[];
}

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Builds one program over the entries (compiler options of tsconfig.json). */
export function publicTypes(entries: string[]): Map<string, PublicTypesReport> {
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(ROOT, 'tsconfig.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  );
  if (config === undefined) throw new Error('tsconfig.json could not be read');
  const files = entries.map((entry) => path.join(ROOT, entry));
  const program = ts.createProgram(files, config.options);
  const checker = program.getTypeChecker();
  const modules = files.map((file) => {
    const source = program.getSourceFile(file);
    const moduleSymbol = source === undefined ? undefined : checker.getSymbolAtLocation(source);
    if (moduleSymbol === undefined) throw new Error(`${file} is not a module`);
    return moduleSymbol;
  });
  // A type one entry shows may be exported by another (`./react` shows `./client`'s types).
  const exported = new Set<ts.Symbol>();
  for (const moduleSymbol of modules)
    for (const symbol of checker.getExportsOfModule(moduleSymbol)) exported.add(resolve(checker, symbol));
  const reports = new Map<string, PublicTypesReport>();
  for (const [index, moduleSymbol] of modules.entries())
    reports.set(entries[index] ?? '', walkEntry(checker, moduleSymbol, exported));
  return reports;
}

function walkEntry(
  checker: ts.TypeChecker,
  moduleSymbol: ts.Symbol,
  exported: ReadonlySet<ts.Symbol>,
): PublicTypesReport {
  const exports = checker.getExportsOfModule(moduleSymbol);
  const zod = new Set<string>();
  const unexported = new Set<string>();
  const seen = new Set<ts.Type>();

  const declaredIn = (symbol: ts.Symbol | undefined): string | null =>
    symbol?.declarations?.[0]?.getSourceFile().fileName ?? null;
  const isOurs = (file: string | null): boolean => file !== null && file.startsWith(path.join(ROOT, 'src') + path.sep);
  const isZod = (file: string | null): boolean =>
    file !== null && file.includes(`${path.sep}node_modules${path.sep}zod${path.sep}`);

  const named = (symbol: ts.Symbol | undefined, where: string): boolean => {
    if (symbol === undefined) return true;
    const file = declaredIn(symbol);
    if (isZod(file)) {
      zod.add(`${where} → ${symbol.getName()}`);
      return false;
    }
    if (!isOurs(file)) return false; // node_modules other than zod (bullmq, ioredis, express, …): not ours to walk
    const kind = symbol.flags;
    if (
      kind & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Class | ts.SymbolFlags.Enum) &&
      !exported.has(symbol)
    )
      unexported.add(`${symbol.getName()} (at ${where})`);
    return true;
  };

  const walk = (type: ts.Type, where: string): void => {
    if (seen.has(type)) return;
    seen.add(type);
    if (!named(type.aliasSymbol, where)) return;
    for (const argument of type.aliasTypeArguments ?? []) walk(argument, `${where}<>`);
    if (type.isUnionOrIntersection()) {
      for (const part of type.types) walk(part, where);
      return;
    }
    if (!named(type.getSymbol(), where)) return;
    if (type.flags & ts.TypeFlags.Object) {
      const object = type as ts.ObjectType;
      if (object.objectFlags & ts.ObjectFlags.Reference)
        for (const argument of checker.getTypeArguments(object as ts.TypeReference)) walk(argument, `${where}<>`);
      for (const property of checker.getPropertiesOfType(type)) {
        if (!isPublic(property)) continue;
        const declaration = property.valueDeclaration ?? property.declarations?.[0];
        if (declaration === undefined) continue;
        walk(checker.getTypeOfSymbolAtLocation(property, declaration), `${where}.${property.getName()}`);
      }
      for (const signature of [...type.getCallSignatures(), ...type.getConstructSignatures()]) {
        if (signature.declaration !== undefined && isInternal(signature.declaration)) continue;
        for (const parameter of signature.getParameters()) {
          const declaration = parameter.valueDeclaration;
          if (declaration !== undefined)
            walk(checker.getTypeOfSymbolAtLocation(parameter, declaration), `${where}(${parameter.getName()})`);
        }
        walk(signature.getReturnType(), `${where}()`);
      }
      for (const info of checker.getIndexInfosOfType(type)) walk(info.type, `${where}[]`);
    }
  };

  for (const symbol of exports) {
    const target = resolve(checker, symbol);
    const declaration = target.valueDeclaration ?? target.declarations?.[0];
    if (declaration === undefined) continue;
    if (target.flags & ts.SymbolFlags.Value)
      walk(checker.getTypeOfSymbolAtLocation(target, declaration), symbol.getName());
    if (target.flags & ts.SymbolFlags.Type) walk(checker.getDeclaredTypeOfSymbol(target), symbol.getName());
  }
  return { zod: [...zod].sort(), unexported: [...unexported].sort() };
}

function resolve(checker: ts.TypeChecker, symbol: ts.Symbol): ts.Symbol {
  return symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
}

/** `@internal` in the leading comment, as `stripInternal` reads it. */
function isInternal(node: ts.Node): boolean {
  const text = node.getSourceFile().getFullText();
  return (ts.getLeadingCommentRanges(text, node.getFullStart()) ?? []).some((range) =>
    text.slice(range.pos, range.end).includes('@internal'),
  );
}

/** What the published declarations show of a member: not `private`/`protected`, not `@internal`. */
function isPublic(property: ts.Symbol): boolean {
  for (const declaration of property.declarations ?? []) {
    const modifiers = ts.canHaveModifiers(declaration) ? (ts.getModifiers(declaration) ?? []) : [];
    if (
      modifiers.some(
        (modifier) =>
          modifier.kind === ts.SyntaxKind.PrivateKeyword || modifier.kind === ts.SyntaxKind.ProtectedKeyword,
      )
    )
      return false;
    const name = ts.getNameOfDeclaration(declaration);
    if (name !== undefined && ts.isPrivateIdentifier(name)) return false;
    if (isInternal(declaration)) return false;
  }
  return true;
}
