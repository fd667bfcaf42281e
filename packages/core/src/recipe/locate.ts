// Maps a recipe path (["method", "rank"]) to where its value was written, following identifiers,
// imports, spreads and extendRecipe() bases across files, so diagnostics point at the real source.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { Node, Project, type SourceFile } from "ts-morph";
import {
  codeFrame,
  type Diagnostic,
  type PathSegment,
  type Problem,
  type SourceLocation,
} from "./diagnostics.ts";

interface Found {
  /** The value node reached. */
  node: Node;
  /** The property-name node that introduced `node`, if any. */
  key?: Node;
  /** How many path segments were matched. */
  depth: number;
}

export class RecipeLocator {
  private readonly project = new Project({
    skipAddingFilesFromTsConfig: true,
    skipFileDependencyResolution: true,
    compilerOptions: { allowJs: true },
  });
  private readonly root: Node | undefined;

  constructor(readonly file: string) {
    this.root = existsSync(file) ? defaultExportOf(this.sourceFile(file)) : undefined;
  }

  private sourceFile(path: string): SourceFile {
    return this.project.getSourceFile(path) ?? this.project.addSourceFileAtPath(path);
  }

  /** Where `path` was written; `at: "key"` points at the property name instead of the value. */
  locate(path: readonly PathSegment[], at: "key" | "value" = "value"): SourceLocation | undefined {
    if (!this.root) return undefined;
    const found = this.walk(this.root, path, 0, new Set());
    let target: Node = found.node;
    if (found.depth === path.length) {
      if (at === "key" && found.key) target = found.key;
    } else if (found.key) {
      // The path ends in a key that was never written (a missing field): point at the enclosing property.
      target = found.key;
    }
    const sf = target.getSourceFile();
    const { line, column } = sf.getLineAndColumnAtPos(target.getStart());
    return { file: sf.getFilePath(), line, column };
  }

  /** The source text of a file the locator has read (for code frames). */
  text(file: string): string | undefined {
    return this.project.getSourceFile(file)?.getFullText();
  }

  private walk(start: Node, path: readonly PathSegment[], depth: number, seen: Set<Node>, key?: Node): Found {
    const node = this.resolve(start, seen);
    const here: Found = { node, depth, ...(key ? { key } : {}) };
    if (depth === path.length) return here;
    const seg = path[depth]!;

    if (Node.isObjectLiteralExpression(node)) {
      const best: Found = here;
      // Later properties win, as in the object's runtime value.
      for (const prop of [...node.getProperties()].reverse()) {
        if (Node.isPropertyAssignment(prop) && propertyName(prop.getNameNode()) === String(seg)) {
          return this.walk(prop.getInitializerOrThrow(), path, depth + 1, seen, prop.getNameNode());
        }
        if (Node.isShorthandPropertyAssignment(prop) && prop.getName() === String(seg)) {
          return this.walk(prop.getNameNode(), path, depth + 1, seen, prop.getNameNode());
        }
        if (Node.isSpreadAssignment(prop)) {
          const inner = this.walk(prop.getExpression(), path, depth, seen, key);
          if (inner.depth > best.depth) return inner;
        }
      }
      return best;
    }
    if (Node.isArrayLiteralExpression(node) && typeof seg === "number") {
      const el = node.getElements()[seg];
      return el ? this.walk(el, path, depth + 1, seen) : here;
    }
    if (Node.isCallExpression(node)) {
      const args = node.getArguments();
      const callee = node.getExpression().getText();
      // extendRecipe(base, overrides): overrides win; otherwise the value came from the base.
      const order = /(^|\.)extendRecipe$/.test(callee) ? [...args].reverse() : args;
      let best: Found = here;
      for (const arg of order) {
        const inner = this.walk(arg, path, depth, seen, key);
        if (inner.depth === path.length) return inner;
        if (inner.depth > best.depth) best = inner;
      }
      return best;
    }
    return here;
  }

  /** Follows wrappers, identifiers, imports and member accesses to the expression that holds the value. */
  private resolve(node: Node, seen: Set<Node>): Node {
    let current = node;
    for (let guard = 0; guard < 64; guard++) {
      if (seen.has(current)) return current;
      if (
        Node.isAsExpression(current) ||
        Node.isSatisfiesExpression(current) ||
        Node.isParenthesizedExpression(current) ||
        Node.isNonNullExpression(current) ||
        Node.isTypeAssertion(current)
      ) {
        current = current.getExpression();
        continue;
      }
      if (Node.isCallExpression(current) && /(^|\.)defineRecipe$/.test(current.getExpression().getText())) {
        const arg = current.getArguments()[0];
        if (!arg) return current;
        current = arg;
        continue;
      }
      if (Node.isIdentifier(current)) {
        const target = this.declarationOf(current.getSourceFile(), current.getText());
        if (!target) return current;
        seen.add(current);
        current = target;
        continue;
      }
      if (Node.isPropertyAccessExpression(current)) {
        const owner = this.walk(current.getExpression(), [current.getName()], 0, seen);
        if (owner.depth !== 1) return current;
        seen.add(current);
        current = owner.node;
        continue;
      }
      return current;
    }
    return current;
  }

  /** The initializer of a top-level `name` in `sf`, following imports into other files. */
  private declarationOf(sf: SourceFile, name: string): Node | undefined {
    const local = sf.getVariableDeclaration(name)?.getInitializer();
    if (local) return local;
    for (const imp of sf.getImportDeclarations()) {
      const spec = imp.getModuleSpecifierValue();
      let exported: string | undefined;
      if (imp.getDefaultImport()?.getText() === name) exported = "default";
      for (const named of imp.getNamedImports()) {
        if ((named.getAliasNode()?.getText() ?? named.getName()) === name) exported = named.getName();
      }
      if (!exported) continue;
      const file = resolveModule(spec, sf.getFilePath());
      if (!file) return undefined;
      const target = this.sourceFile(file);
      return exported === "default"
        ? defaultExportOf(target)
        : target.getVariableDeclaration(exported)?.getInitializer();
    }
    return undefined;
  }
}

function propertyName(node: Node): string {
  if (Node.isStringLiteral(node) || Node.isNoSubstitutionTemplateLiteral(node)) return node.getLiteralValue();
  if (Node.isNumericLiteral(node)) return String(node.getLiteralValue());
  return node.getText();
}

function defaultExportOf(sf: SourceFile): Node | undefined {
  return sf.getExportAssignment((e) => !e.isExportEquals())?.getExpression();
}

function resolveModule(spec: string, fromFile: string): string | undefined {
  if (spec.startsWith(".") || spec.startsWith("/")) {
    const base = resolve(dirname(fromFile), spec);
    const candidates = [base, base.replace(/\.js$/, ".ts"), `${base}.ts`, `${base}/index.ts`];
    return candidates.find((c) => existsSync(c) && !c.endsWith("/"));
  }
  try {
    return createRequire(fromFile).resolve(spec);
  } catch {
    return undefined;
  }
}

/** Problems -> diagnostics with file:line:column and a code frame, when the recipe's source file is known. */
export function locateProblems(problems: Problem[], file: string | null): Diagnostic[] {
  if (!file || problems.length === 0) return problems;
  let locator: RecipeLocator;
  try {
    locator = new RecipeLocator(file);
  } catch {
    return problems;
  }
  return problems.map((p) => {
    const location = locator.locate(p.path, p.at ?? "value");
    if (!location) return p;
    const text = locator.text(location.file);
    return { ...p, location, ...(text ? { frame: codeFrame(text, location.line, location.column) } : {}) };
  });
}
