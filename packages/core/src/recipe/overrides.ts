// Overrides: `--set train.learningRate=2e-4` on the command line and a sweep's axes change one recipe value
// each. Paths are checked against the recipe schema (a misspelled one suggests the right one), values are
// read by the type the schema expects there, and problems about an overridden value name the override
// (`--set … (argument 3)`) rather than the recipe line it replaced.
import { createHash } from "node:crypto";
import { z } from "zod";
import type { Diagnostic, PathSegment, Problem } from "./diagnostics.ts";
import { RecipeSchema } from "./schema/recipe.ts";
import { objectKeys, schemaAt, unwrap } from "./schema-walk.ts";
import { closest } from "./suggest.ts";

export interface Override {
  /** Dotted recipe path as written: `train.learningRate`, `data.sources.chat.weight`, `method.targets`. */
  path: string;
  /** The value: read from text for `--set`, as written for a sweep axis. */
  value: unknown;
  /** Where it was written, shown in place of a recipe location: `--set a=b (argument 3)`, `sweep.ts:4:5`. */
  origin: string;
}

/** What the recipe records of an override (plan.json, recipe.resolved.json). */
export interface OverrideRecord {
  path: string;
  value: unknown;
}

type AnySchema = Parameters<typeof unwrap>[0];
const defType = (s: AnySchema): string => (s as unknown as { _zod: { def: { type: string } } })._zod.def.type;

/**
 * The `--set path=value` flags in a command's raw arguments (`--set a=b` or `--set=a=b`), each with its
 * 1-based argument number, plus a line for each `--set` without `path=value`.
 */
export function setFlags(rawArgs: readonly string[]): { sets: SetFlag[]; problems: string[] } {
  const sets: SetFlag[] = [];
  const problems: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") break;
    let text: string | undefined;
    let index = i + 1;
    if (arg === "--set") {
      text = rawArgs[i + 1];
      index = i + 2;
      i++;
    } else if (arg.startsWith("--set=")) text = arg.slice("--set=".length);
    else continue;
    const eq = text?.indexOf("=") ?? -1;
    if (text === undefined || eq <= 0) {
      problems.push(
        `--set takes path=value (e.g. --set train.learningRate=2e-4), got ${text === undefined ? "nothing" : `"${text}"`} (argument ${index})`,
      );
      continue;
    }
    sets.push({ path: text.slice(0, eq).trim(), text: text.slice(eq + 1), index, arg: text });
  }
  return { sets, problems };
}

export interface SetFlag {
  path: string;
  /** The value as typed. */
  text: string;
  /** 1-based position among the command's arguments. */
  index: number;
  /** `path=value` as typed. */
  arg: string;
}

/** `--set` flags as overrides: each value read as the type the schema expects at its path in `recipe`. */
export function overridesFromFlags(sets: readonly SetFlag[], recipe: unknown): Override[] {
  let current = recipe;
  return sets.map((s) => {
    const segments = splitPath(s.path);
    const value = readValue(s.text, schemaAt(RecipeSchema, segments, current));
    current = setAt(current, segments, value);
    return { path: s.path, value, origin: `--set ${s.arg} (argument ${s.index})` };
  });
}

/** `train.learningRate` -> ["train", "learningRate"]; `a.b[0]` and `a.b.0` -> ["a", "b", 0]. */
export function splitPath(path: string): PathSegment[] {
  return path
    .replace(/\[(\d+)\]/g, ".$1")
    .split(".")
    .filter((s) => s !== "")
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** A value typed on the command line, read as the schema at its path expects (strings stay strings). */
export function readValue(text: string, schema: AnySchema | undefined): unknown {
  const type = schema ? defType(unwrap(schema)) : "unknown";
  if (type === "string" || type === "enum" || type === "literal") return text;
  if (type === "number" || type === "int") {
    const n = Number(text);
    return text.trim() !== "" && Number.isFinite(n) ? n : text;
  }
  if (type === "boolean") return text === "true" ? true : text === "false" ? false : text;
  if (type === "union" && schema) {
    // The first reading a member accepts: `all-linear` or `q_proj,v_proj` for `"all-linear" | string[]`.
    const options =
      (unwrap(schema) as unknown as { _zod: { def: { options?: AnySchema[] } } })._zod.def.options ?? [];
    for (const option of options) {
      const value = readValue(text, option);
      if (z.safeParse(option, value).success) return value;
    }
  }
  try {
    return JSON.parse(text);
  } catch {
    // A list without JSON brackets: `--set method.targets=q_proj,v_proj`.
    if (type === "array" && schema) {
      const element = (unwrap(schema) as unknown as { _zod: { def: { element: AnySchema } } })._zod.def
        .element;
      return text.split(",").map((t) => readValue(t.trim(), element));
    }
    return text;
  }
}

/** The recipe with each override applied (copies along the changed paths; the input is not modified). */
export function applyOverrides(recipe: unknown, overrides: readonly Override[]): unknown {
  let out = recipe;
  for (const o of overrides) out = setAt(out, splitPath(o.path), o.value);
  return out;
}

function setAt(target: unknown, path: readonly PathSegment[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [PathSegment, ...PathSegment[]];
  if (Array.isArray(target) && typeof head === "number") {
    const copy = [...target];
    copy[head] = setAt(copy[head], rest, value);
    return copy;
  }
  const base = typeof target === "object" && target !== null && !Array.isArray(target) ? target : {};
  // Keep non-enumerable tags (the recipe's source file) on the copy.
  const copy = Object.create(Object.getPrototypeOf(base), Object.getOwnPropertyDescriptors(base)) as Record<
    PathSegment,
    unknown
  >;
  copy[head] = setAt((base as Record<PathSegment, unknown>)[head], rest, value);
  return copy;
}

/**
 * Override paths the schema has no place for: a misspelled key (with the full path it likely meant), a
 * named source the recipe does not have, a field below a plain value. Checked against the recipe with the
 * earlier overrides applied, so `method.kind=full` then a full-method field is fine.
 */
export function checkOverridePaths(
  recipe: unknown,
  overrides: readonly Override[],
): { valid: Override[]; problems: Problem[] } {
  const problems: Problem[] = [];
  const valid: Override[] = [];
  let current = recipe;
  for (const o of overrides) {
    const segments = splitPath(o.path);
    const problem = pathProblem(current, segments, o.path);
    if (problem) problems.push(problem);
    else {
      valid.push(o);
      current = setAt(current, segments, o.value);
    }
  }
  return { valid, problems };
}

function pathProblem(recipe: unknown, segments: PathSegment[], written: string): Problem | null {
  if (segments.length === 0)
    return {
      severity: "error",
      code: "sft/unknown-key",
      message: `\`${written}\` is not a recipe path`,
      path: [],
      hint: "name a value, e.g. train.learningRate",
    };
  for (let depth = 0; depth < segments.length; depth++) {
    const parentPath = segments.slice(0, depth);
    const parent = schemaAt(RecipeSchema, parentPath, recipe);
    const seg = segments[depth]!;
    // The whole override path, so the problem is attributed to the override that wrote it.
    const fail = (message: string, hint?: string): Problem => ({
      severity: "error",
      code: "sft/unknown-key",
      message,
      path: segments,
      at: "key",
      ...(hint ? { hint } : {}),
    });
    const type = parent ? defType(unwrap(parent)) : "unknown";
    const dotted = (k: PathSegment) => [...parentPath, k].join(".");
    if (type === "object") {
      const keys = objectKeys(parent);
      if (keys.includes(String(seg))) continue;
      const guess = closest(String(seg), keys);
      const rest = segments.slice(depth + 1).join(".");
      return fail(
        `unknown key \`${String(seg)}\`${depth ? ` in \`${parentPath.join(".")}\`` : ""}`,
        guess
          ? `did you mean \`${dotted(guess)}${rest ? `.${rest}` : ""}\`?`
          : `known keys here: ${keys.join(", ")}`,
      );
    }
    if (type === "record") {
      // A new entry is fine when the override sets it whole; a field of one must name an existing entry.
      if (depth === segments.length - 1) continue;
      const existing = valueAt(recipe, parentPath);
      const names = typeof existing === "object" && existing !== null ? Object.keys(existing) : [];
      if (names.includes(String(seg))) continue;
      const guess = closest(String(seg), names);
      const rest = segments.slice(depth + 1).join(".");
      return fail(
        `the recipe has no \`${dotted(seg)}\``,
        guess
          ? `did you mean \`${dotted(guess)}.${rest}\`?`
          : `it has ${names.map((n) => `\`${dotted(n)}\``).join(", ") || "none"}; to add one, set it whole (JSON)`,
      );
    }
    if (type === "array" || type === "tuple") {
      if (typeof seg === "number") continue;
      return fail(`\`${parentPath.join(".")}\` is a list; index it with a number`);
    }
    if (type === "union" && depth < segments.length) {
      // A union of shapes (e.g. `dedupe: boolean | { threshold }`): fine when the written value is the object.
      if (parent && objectKeys(parent).length === 0 && typeof valueAt(recipe, parentPath) !== "object")
        return fail(`\`${parentPath.join(".")}\` is not an object here; set it whole instead`);
      continue;
    }
    return fail(
      parent
        ? `\`${parentPath.join(".")}\` is a single value; it has no \`${String(seg)}\``
        : `unknown key \`${String(seg)}\``,
    );
  }
  return null;
}

function valueAt(value: unknown, path: readonly PathSegment[]): unknown {
  let v = value;
  for (const seg of path)
    v = typeof v === "object" && v !== null ? (v as Record<PathSegment, unknown>)[seg] : undefined;
  return v;
}

/**
 * Diagnostics about an overridden value (or below it) name the override as their place; the recipe's own
 * location stays as context.
 */
export function attributeToOverrides(
  diagnostics: Diagnostic[],
  overrides: readonly Override[],
): Diagnostic[] {
  if (overrides.length === 0) return diagnostics;
  const paths = overrides.map((o) => ({ o, segments: splitPath(o.path).map(String) }));
  return diagnostics.map((d) => {
    const at = d.path.map(String);
    // The last override that covers the path wins, as it is the one applied last.
    const match = [...paths]
      .reverse()
      .find(({ segments }) => segments.length <= at.length && segments.every((s, i) => s === at[i]));
    return match ? { ...d, override: match.o.origin } : d;
  });
}

/** What the plan records: path and value, in the order applied. */
export function overrideRecords(overrides: readonly Override[]): OverrideRecord[] {
  return overrides.map(({ path, value }) => ({ path, value }));
}

/**
 * The output folder of an overridden run, beside the base run's: `<dir>+<path>=<value>,…` (sorted), or
 * `<dir>+set-<hash>` when that would be long or not a safe name. An explicit `output.dir` override wins.
 */
export function overriddenOutputDir(baseDir: string, overrides: readonly Override[]): string {
  if (overrides.length === 0 || overrides.some((o) => o.path === "output.dir")) return baseDir;
  return `${baseDir}+${overridesSlug(overrides)}`;
}

/** A folder-name-safe, order-independent name for a set of overrides. */
export function overridesSlug(overrides: readonly Override[]): string {
  const last = new Map<string, unknown>();
  for (const o of overrides) last.set(o.path, o.value);
  const parts = [...last].sort(([a], [b]) => a.localeCompare(b)).map(([p, v]) => `${p}=${JSON.stringify(v)}`);
  const readable = parts.map((p) => p.replace(/"/g, "")).join(",");
  if (readable.length <= 60 && /^[\w.=,+-]+$/.test(readable)) return readable;
  return `set-${createHash("sha256").update(parts.join("\n")).digest("hex").slice(0, 10)}`;
}
