// A best-effort copy of a recipe that failed the schema, so the later stages (token references, files)
// can still report in the same pass: every value a schema problem points at is removed (an unknown key,
// an invalid optional value; the object around a missing field), and the copy is parsed again. Never a
// plan: only the errors of the later stages are kept, mapped back to the paths of the recipe as written.
import type { PathSegment, Problem } from "./diagnostics.ts";
import { parseRecipe } from "./parse.ts";
import type { Recipe } from "./schema/recipe.ts";

export interface RepairedRecipe {
  recipe: Recipe;
  /** Paths (as written) of the values that were removed. */
  removed: PathSegment[][];
  /** Maps a path of the repaired recipe back to the recipe as written (array elements removed shift indices). */
  originalPath(path: readonly PathSegment[]): PathSegment[];
}

const MAX_ROUNDS = 4;

export function repairRecipe(value: unknown, problems: readonly Problem[]): RepairedRecipe | null {
  const copy = clone(value);
  const removed: PathSegment[][] = [];
  // Array elements removed, in order: [array path, index], each in the coordinates of its own round.
  const splices: [PathSegment[], number][] = [];
  const originalPath = (path: readonly PathSegment[]): PathSegment[] => {
    const out = [...path];
    for (const [array, index] of [...splices].reverse()) {
      const at = out[array.length];
      if (startsWith(out, array) && typeof at === "number" && at >= index) out[array.length] = at + 1;
    }
    return out;
  };

  let current = problems;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    // Deepest first, and later array elements first, so one removal does not move another's target.
    const unique = new Map(
      current
        .map((p) => (p.code === "sft/missing" ? p.path.slice(0, -1) : p.path))
        .map((t) => [JSON.stringify(t), t]),
    );
    const targets = [...unique.values()].sort((a, b) => b.length - a.length || compareDesc(a, b));
    let changed = false;
    for (const path of targets) {
      if (path.length === 0) return null;
      const original = originalPath(path);
      const spliced = removeAt(copy, path);
      if (spliced === null) continue;
      changed = true;
      removed.push(original);
      if (spliced) splices.push([path.slice(0, -1), path[path.length - 1] as number]);
    }
    if (!changed) return null;
    const parsed = parseRecipe(copy);
    if (parsed.ok) return { recipe: parsed.recipe, removed, originalPath };
    current = parsed.problems;
  }
  return null;
}

/** Removes the value at `path`: null when there is none, true when it was an array element (spliced). */
function removeAt(root: unknown, path: readonly PathSegment[]): boolean | null {
  let parent: unknown = root;
  for (const seg of path.slice(0, -1)) {
    if (parent === null || typeof parent !== "object") return null;
    parent = (parent as Record<string | number, unknown>)[seg];
  }
  const last = path[path.length - 1]!;
  if (Array.isArray(parent) && typeof last === "number" && last < parent.length) {
    parent.splice(last, 1);
    return true;
  }
  if (
    parent !== null &&
    typeof parent === "object" &&
    !Array.isArray(parent) &&
    Object.hasOwn(parent, last)
  ) {
    delete (parent as Record<string, unknown>)[String(last)];
    return false;
  }
  return null;
}

/** Plain objects and arrays copied; functions, class instances and primitives shared. */
function clone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clone);
  if (v !== null && typeof v === "object") {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)]));
  }
  return v;
}

function startsWith(path: readonly PathSegment[], prefix: readonly PathSegment[]): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => path[i] === s);
}

/** Whether one path lies inside the other (or they are equal). */
export function overlaps(a: readonly PathSegment[], b: readonly PathSegment[]): boolean {
  return startsWith(a, b) || startsWith(b, a);
}

function compareDesc(a: readonly PathSegment[], b: readonly PathSegment[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (typeof x === "number" && typeof y === "number") return y - x;
    return String(y).localeCompare(String(x));
  }
  return 0;
}
