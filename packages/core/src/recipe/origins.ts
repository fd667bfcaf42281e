// Which file wrote each value of a recipe, so a relative path resolves against the file that wrote it: a
// base recipe or preset in a package keeps pointing at its own data when another file extends or imports it.
import { dirname, isAbsolute, resolve } from "node:path";
import type { PathSegment } from "./diagnostics.ts";

/** Per object: key -> the file that wrote that key's value (non-enumerable, so it never reaches the plan). */
const writtenIn: unique symbol = Symbol.for("sftkit.recipe.writtenIn");
type Origins = Record<string, string>;

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype
  );
}

function originsOf(o: object): Origins | undefined {
  return (o as Record<symbol, Origins | undefined>)[writtenIn];
}

function setOrigins(o: object, origins: Origins): void {
  try {
    Object.defineProperty(o, writtenIn, { value: origins, enumerable: false, configurable: true });
  } catch {
    // A frozen object keeps no origins: its relative paths resolve against the recipe file, as before.
  }
}

/** Marks every key not yet marked, at any depth, as written in `file` (keys a preset marked keep theirs). */
export function tagOrigins(value: unknown, file: string): void {
  if (!isPlainObject(value)) return;
  const origins: Origins = { ...originsOf(value) };
  for (const [k, v] of Object.entries(value)) {
    origins[k] ??= file;
    tagOrigins(v, file);
  }
  setOrigins(value, origins);
}

/** After a merge: each key keeps the origin of the object its value came from. */
export function mergeOrigins(out: object, base: object, over: object): void {
  const origins: Origins = { ...originsOf(base) };
  const fromOver = originsOf(over) ?? {};
  for (const k of Object.keys(over)) {
    if (fromOver[k] !== undefined) origins[k] = fromOver[k];
    else delete origins[k];
  }
  setOrigins(out, origins);
}

/** The recipe fields that name files to read (output folders stay relative to the recipe being run). */
const PATH_FIELDS: readonly (readonly (string | "*")[])[] = [
  ["model", "path"],
  ["tokenizer"],
  ["template", "file"],
  ["data", "sources", "*", "path"],
];

export interface PathOrigin {
  path: PathSegment[];
  /** The file whose folder the path resolves against. */
  file: string;
}

/** The path fields written in another file than `recipeFile`, with that file. */
export function foreignPathOrigins(value: unknown, recipeFile: string | null): PathOrigin[] {
  const found: PathOrigin[] = [];
  const walk = (v: unknown, pattern: readonly string[], at: PathSegment[]) => {
    if (!isPlainObject(v)) return;
    const [head, ...rest] = pattern;
    const keys = head === "*" ? Object.keys(v) : head !== undefined && head in v ? [head] : [];
    for (const k of keys) {
      if (rest.length > 0) walk(v[k], rest, [...at, k]);
      else {
        const file = originsOf(v)?.[k];
        if (file !== undefined && file !== recipeFile) found.push({ path: [...at, k], file });
      }
    }
  };
  for (const pattern of PATH_FIELDS) walk(value, pattern, []);
  return found;
}

/** Rewrites the relative paths written in other files as absolute paths from those files' folders (in place). */
export function rebasePaths(recipe: Record<string, unknown>, origins: readonly PathOrigin[]): void {
  const rebase = (p: unknown, dir: string) =>
    typeof p === "string" && p !== "" && !isAbsolute(p) ? resolve(dir, p) : p;
  for (const { path, file } of origins) {
    let holder: unknown = recipe;
    for (const seg of path.slice(0, -1)) holder = isPlainObject(holder) ? holder[seg as string] : undefined;
    const key = path[path.length - 1] as string;
    if (!isPlainObject(holder) || holder[key] === undefined) continue;
    const v = holder[key];
    holder[key] = Array.isArray(v) ? v.map((p) => rebase(p, dirname(file))) : rebase(v, dirname(file));
  }
}

/** The hint for a path that was not found: which file it is relative to. */
export function relativeToHint(origins: readonly PathOrigin[], path: PathSegment[], what: string): string {
  // A list of data paths is reported at one of its items: match the field that holds the list too.
  const origin = origins.find((o) => o.path.every((seg, i) => path[i] === seg));
  return origin
    ? `${what} is written in ${origin.file}: a relative path there resolves against that file's folder`
    : `${what} paths are relative to the recipe file`;
}
