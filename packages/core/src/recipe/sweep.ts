// defineSweep: a grid (or a seeded random sample of it) of overrides over one base recipe. Axis paths are
// typed from the recipe schema's input type, so a wrong path or a value of the wrong type is an editor error;
// `sft sweep` compiles every trial before any compute and reports each problem at the axis value that made it.
import { fileURLToPath } from "node:url";
import { mulberry32 } from "../util/mulberry32.ts";
import { callerFile, type RecipeOf, recipeSourceFile } from "./define.ts";
import type { Override } from "./overrides.ts";
import { overridesSlug } from "./overrides.ts";
import type { RecipeInput } from "./schema/recipe.ts";

type Leaf = string | number | boolean | bigint | null | undefined | ((...args: never[]) => unknown);
type Depth = [never, 0, 1, 2, 3, 4, 5];

/** Every dotted path into a recipe (`train.learningRate`, `method.rank`, `data.sources.${name}.weight`). */
export type RecipePath<T = RecipeInput, D extends number = 5> = [D] extends [never]
  ? never
  : T extends Leaf | readonly unknown[]
    ? never
    : {
        // A named entry (a data source) is reached field by field: `data.sources.${string}` whole would
        // also match every field's path and demand both types of it.
        [K in keyof T & string]-?:
          | (string extends K ? never : K)
          | (NonNullable<T[K]> extends Leaf | readonly unknown[]
              ? never
              : `${string extends K ? string : K}.${RecipePath<NonNullable<T[K]>, Depth[D]>}`);
      }[keyof T & string];

/** The type written at a path (a union of every method kind that has the field, for `method.*`). */
export type RecipePathValue<T, P extends string> = T extends unknown
  ? P extends `${infer K}.${infer Rest}`
    ? K extends keyof T
      ? RecipePathValue<NonNullable<T[K]>, Rest>
      : string extends keyof T
        ? RecipePathValue<NonNullable<T[string & keyof T]>, Rest>
        : never
    : P extends keyof T
      ? Exclude<T[P], undefined>
      : string extends keyof T
        ? Exclude<T[string & keyof T], undefined>
        : never
  : never;

/** Each axis: a recipe path and the values it takes. */
export type SweepAxes = { [P in RecipePath]?: readonly RecipePathValue<RecipeInput, P>[] };

export type SweepMode = "grid" | { random: number; seed?: number };

export interface SweepSpec {
  /** The sweep's name: its output folder is `out/<name>` beside the sweep file (default: the file's name). */
  name?: string;
  axes: SweepAxes;
  /** Every combination (default), or `random` of them drawn with `seed`. */
  mode?: SweepMode;
  /** Output root of the trials, relative to the sweep file (default `out/<name>`). */
  outputDir?: string;
}

/** Marks a sweep (a symbol, so it survives a second copy of this module that tsx may load). */
const sweepBrand: unique symbol = Symbol.for("sftkit.sweep") as never;

export interface Sweep {
  readonly [sweepBrand]: true;
  readonly base: RecipeInput;
  readonly spec: SweepSpec;
  /** The file that called defineSweep (axis values are located in it). */
  readonly file: string | null;
}

/** Declares a sweep over `base`: `export default defineSweep(recipe, { axes: { "train.learningRate": [1e-4, 3e-4] } })`. */
export function defineSweep<Name extends string = never>(
  base: RecipeOf<Name> | RecipeInput,
  spec: SweepSpec,
): Sweep {
  return {
    [sweepBrand]: true,
    base: base as RecipeInput,
    spec,
    file: callerFile([fileURLToPath(import.meta.url)]) ?? null,
  };
}

export function isSweep(v: unknown): v is Sweep {
  return typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[sweepBrand] === true;
}

export interface Trial {
  /** `01`, `02`, … in sweep order. */
  id: string;
  /** Folder name under the sweep's output root: `<id>-<path=value,…>`. */
  folder: string;
  overrides: Override[];
}

/** The trials of a sweep, in order: the grid (last axis fastest), or a seeded sample of it. */
export function sweepTrials(sweep: Sweep): Trial[] {
  const axes = Object.entries(sweep.spec.axes as Record<string, readonly unknown[] | undefined>).filter(
    (e): e is [string, readonly unknown[]] => Array.isArray(e[1]) && e[1].length > 0,
  );
  let combos: number[][] = [[]];
  for (const [, values] of axes) combos = combos.flatMap((c) => values.map((_, i) => [...c, i]));
  if (axes.length === 0) combos = [];
  const mode = sweep.spec.mode ?? "grid";
  if (mode !== "grid") combos = sample(combos, mode.random, mode.seed ?? 0);
  const width = Math.max(2, String(combos.length).length);
  const where = sweep.file ?? "the sweep";
  return combos.map((combo, n) => {
    const overrides = combo.map((i, a) => {
      const [path, values] = axes[a]!;
      return { path, value: values[i], origin: `${where} axes["${path}"][${i}]` };
    });
    const id = String(n + 1).padStart(width, "0");
    return { id, folder: `${id}-${overridesSlug(overrides)}`, overrides };
  });
}

/** `n` of the combinations, drawn without repeats by a seeded shuffle, kept in grid order. */
function sample(combos: number[][], n: number, seed: number): number[][] {
  const next = mulberry32(seed);
  const order = combos.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order
    .slice(0, Math.max(0, Math.min(n, combos.length)))
    .sort((a, b) => a - b)
    .map((i) => combos[i]!);
}

/** The base recipe's source file (diagnostics of values it wrote point there). */
export function sweepBaseFile(sweep: Sweep): string | null {
  return (sweep.base as Record<symbol, string | undefined>)[recipeSourceFile] ?? null;
}
