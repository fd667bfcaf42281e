// load: import a recipe module (TypeScript via tsx) and take its default export. Failures become diagnostics.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { register as registerCommonJs } from "tsx/cjs/api";
import { register as registerModules, tsImport } from "tsx/esm/api";
import { loadingRecipeFlag } from "./define.ts";
import type { Diagnostic } from "./diagnostics.ts";

export type LoadResult =
  | { ok: true; value: unknown; file: string }
  | { ok: false; diagnostics: Diagnostic[] };

export async function loadRecipeFile(path: string): Promise<LoadResult> {
  const file = resolve(path);
  const fail = (message: string, hint?: string, line = 1, column = 1): LoadResult => ({
    ok: false,
    diagnostics: [
      {
        severity: "error",
        code: "sft/recipe-load",
        message,
        path: [],
        location: { file, line, column },
        ...(hint ? { hint } : {}),
      },
    ],
  });
  if (!existsSync(file)) return fail(`recipe file not found: ${file}`, "pass the path to a recipe.ts");
  if (statSync(file).isDirectory())
    return fail(`the recipe path is a folder, not a file: ${file}`, "pass the path to a recipe.ts");
  if (readFileSync(file, "utf8").trim() === "")
    return fail(
      `the recipe file is empty: ${file}`,
      "write the recipe in it: `export default defineRecipe({ ... })`",
    );

  const globals = globalThis as Record<symbol, unknown>;
  const previous = globals[loadingRecipeFlag];
  globals[loadingRecipeFlag] = true;
  let mod: { default?: unknown };
  try {
    mod = (await importTypeScript(file)) as { default?: unknown };
  } catch (err) {
    const { message, line, column } = describeLoadError(err, file);
    return fail(
      message,
      "fix the error above; the recipe module must import and run without throwing",
      line,
      column,
    );
  } finally {
    globals[loadingRecipeFlag] = previous;
  }
  const value = defaultExport(mod);
  if (value === undefined) {
    return fail(
      "the recipe module has no default export",
      "end the file with `export default defineRecipe({ ... })`",
    );
  }
  return { ok: true, value, file };
}

/**
 * The module's default export. In a CommonJS package (`npm init -y`) tsx compiles `export default x` to
 * `exports.default = x` on an object marked `__esModule`, and importing that module gives the whole
 * `module.exports` as its default: unwrap it, or the recipe would be `{ default: recipe }`.
 */
function defaultExport(mod: { default?: unknown }): unknown {
  const value = mod.default;
  if (typeof value === "object" && value !== null && (value as { __esModule?: unknown }).__esModule === true)
    return (value as { default?: unknown }).default;
  return value;
}

let registered = false;
let imports = 0;

/**
 * Imports a TypeScript file with tsx's loaders registered in this process (ES modules and CommonJS), so the
 * recipe shares this process's modules. tsImport's isolated namespace would load a second copy of @sftkit/core
 * for the recipe's own imports (and of TensorFlow.js, which then warns "Platform node has already been set").
 * The query makes each load read the file afresh. Inside a vm context without dynamic import (vitest's
 * workers), tsImport is the way that works.
 */
async function importTypeScript(file: string): Promise<unknown> {
  if (!registered) {
    registerModules();
    registerCommonJs();
    registered = true;
  }
  try {
    return await nativeImport(`${pathToFileURL(file).href}?sft-load=${++imports}`);
  } catch (err) {
    if ((err as { code?: string }).code !== "ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING") throw err;
    return tsImport(pathToFileURL(file).href, import.meta.url);
  }
}

// Node's own import(), which a test runner's module transform cannot reroute through its bundler.
const nativeImport = new Function("url", "return import(url)") as (url: string) => Promise<unknown>;

/** A message and the place in the recipe file, from an esbuild syntax error or a thrown error's stack. */
function describeLoadError(err: unknown, file: string): { message: string; line: number; column: number } {
  const e = err as {
    message?: string;
    stack?: string;
    errors?: { text: string; location?: { line: number; column: number } }[];
  };
  const first = e.errors?.[0];
  if (first?.location)
    return { message: first.text, line: first.location.line, column: first.location.column + 1 };
  const text = e.message ?? String(err);
  // esbuild: "Transform failed with 1 error:\n/path/recipe.ts:4:23: ERROR: Unexpected ..."
  const esbuild = text.match(/ERROR: (.+)/);
  const message = esbuild?.[1] ?? text.split("\n")[0] ?? "the recipe failed to load";
  // The same error through tsx's registered loader carries no `errors`, only the text's "file:line:col: ERROR".
  const at = text.match(/:(\d+):(\d+): ERROR: /);
  if (at) return { message, line: Number(at[1]), column: Number(at[2]) };
  const missing = missingImportAt(text, file);
  if (missing) return { message, ...missing };
  const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const stack = (e.stack ?? e.message ?? "").replace(/\?sft-load=\d+/g, "");
  const match = stack.match(new RegExp(`${escaped}:(\\d+):(\\d+)`));
  return { message, line: match ? Number(match[1]) : 1, column: match ? Number(match[2]) : 1 };
}

/**
 * Where the recipe imports a module that cannot be found ("Cannot find module '/abs/x' imported from ...",
 * "Cannot find package 'p' ...", "Cannot find module './x'"): the specifier's place in the source, or null.
 */
export function missingImportAt(message: string, file: string): { line: number; column: number } | null {
  const named = message.match(/Cannot find (?:module|package) '([^']+)'/)?.[1];
  if (!named) return null;
  const source = readFileSync(file, "utf8");
  const specifier = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)(["'])([^"'\n]+)\1/g;
  for (const m of source.matchAll(specifier)) {
    const spec = m[2]!;
    const relativeSpec = spec.startsWith(".") || spec.startsWith("/");
    const target = relativeSpec ? resolve(dirname(file), spec) : spec;
    // A package is named by its name (a deep import "p/x" by "p"); a file by its resolved path.
    const matches = relativeSpec
      ? named === spec ||
        named === target ||
        named.replace(/\.[cm]?[jt]sx?$/, "") === target.replace(/\.[cm]?[jt]sx?$/, "")
      : named === spec || spec.startsWith(`${named}/`);
    if (!matches) continue;
    const offset = m.index + m[0].length - spec.length - 1;
    const before = source.slice(0, offset);
    const line = before.split("\n").length;
    return { line, column: offset - before.lastIndexOf("\n") };
  }
  return null;
}
