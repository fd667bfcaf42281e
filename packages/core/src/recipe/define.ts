// defineRecipe / extendRecipe: typed identities over the zod schema's input type, with literal token names
// flowing from `tokens.add` to every field that names a token.
import { fileURLToPath } from "node:url";
import type { z } from "zod";
import type { MethodFieldDocs, RecipeFieldDocs, TemplateFieldDocs } from "./field-docs.generated.ts";
import { isPlainObject, mergeOrigins, tagOrigins } from "./origins.ts";
import type { RecipeInput } from "./schema/recipe.ts";
import type { AddedTokenSchema } from "./schema/tokens.ts";

type TokensIn = NonNullable<RecipeInput["tokens"]>;
type AddedTokenIn = z.input<typeof AddedTokenSchema>;
type AddedTokenObjectIn = Extract<AddedTokenIn, object>;

/** A token reference: one of the names the recipe adds, or an existing token by `{ vocab }` / `{ id }`. */
export type TokenRefIn<Name extends string> = Name | { vocab: string } | { id: number };

type MethodIn<Name extends string> = RecipeInput["method"] extends infer M
  ? M extends { kind: "frozen"; trainable?: infer T }
    ? Omit<M, "trainable"> & {
        trainable?: Omit<NonNullable<T>, "newTokens"> & { newTokens?: boolean | NoInfer<Name>[] };
      }
    : M
  : never;

/**
 * Each member of a union (a method kind, a template form) intersected with the doc type of exactly its keys
 * (and its `kind`), so hovers inside it show its fields' descriptions; no member gains a key, so excess-property
 * checks stay as they are. A member without doc type is left alone.
 */
type Documented<T, Docs> = T extends object ? T & OrUnknown<DocsOf<T, Docs>> : T;
type DocsOf<T, Docs> = Docs extends unknown
  ? T extends Docs
    ? [keyof Docs] extends [keyof T]
      ? [keyof T] extends [keyof Docs]
        ? Docs
        : never
      : never
    : never
  : never;
type OrUnknown<T> = [T] extends [never] ? unknown : T;

/**
 * The recipe a user writes: the schema's input type, with token names narrowed to those in `tokens.add`
 * so a misspelled name is an editor error and names autocomplete. RecipeFieldDocs adds no field: it carries the
 * schema's descriptions to editor hovers.
 */
export type RecipeOf<Name extends string> = RecipeFieldDocs &
  Omit<RecipeInput, "tokens" | "method" | "template"> & {
    template?: Documented<RecipeInput["template"], TemplateFieldDocs>;
    tokens?: Omit<TokensIn, "add" | "bos" | "eos" | "pad"> & {
      add?: (Name | (Omit<AddedTokenObjectIn, "content"> & { content: Name }))[];
      bos?: TokenRefIn<NoInfer<Name>>;
      eos?: TokenRefIn<NoInfer<Name>>;
      pad?: TokenRefIn<NoInfer<Name>>;
    };
    method: Documented<MethodIn<Name>, MethodFieldDocs>;
  };

/** Where a recipe object was written: compile() maps diagnostics into this file. */
export const recipeSourceFile: unique symbol = Symbol.for("sftkit.recipe.sourceFile");

/** Set by the CLI while it imports recipe files, so the `tsx recipe.ts` hook (src/direct-run.ts) stays quiet. */
export const loadingRecipeFlag = Symbol.for("sftkit.loadingRecipe");

/**
 * Declares a recipe. Returns it unchanged (typed), tagged with its source file for diagnostics. Running the
 * file directly (`tsx recipe.ts`) is handled by the package entry (src/direct-run.ts), not here.
 */
export function defineRecipe<Name extends string = never>(recipe: RecipeOf<Name>): RecipeOf<Name> {
  tagSource(recipe, callerFile());
  return recipe;
}

/** Recipe fields a derived recipe may override: any subset, at any depth. */
export type RecipeOverrides = DeepPartial<RecipeInput>;
/** A base whose token names are unknown (typed as plain RecipeInput) lets any name through. */
type KnownNames<Name extends string> = [Name] extends [never] ? string : Name;

/**
 * extendRecipe's overrides: a deep partial of the recipe, whose token references name the tokens the base
 * adds or the overrides add (`Added`), so a misspelled name is an editor error here too.
 */
export type RecipeOverridesOf<Name extends string, Added extends string> = RecipeFieldDocs &
  DeepPartial<Omit<RecipeInput, "tokens" | "method" | "template">> & {
    template?: Documented<DeepPartial<RecipeInput["template"]>, TemplateFieldDocs>;
    method?: Documented<DeepPartial<RecipeInput["method"]>, MethodFieldDocs>;
    tokens?: DeepPartial<Omit<TokensIn, "add" | "bos" | "eos" | "pad">> & {
      add?: (Added | (Omit<AddedTokenObjectIn, "content"> & { content: Added }))[];
      bos?: TokenRefIn<NoInfer<KnownNames<Name> | Added>>;
      eos?: TokenRefIn<NoInfer<KnownNames<Name> | Added>>;
      pad?: TokenRefIn<NoInfer<KnownNames<Name> | Added>>;
    };
  };
type DeepPartial<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly unknown[]
    ? T
    : T extends object
      ? { [K in keyof T]?: DeepPartial<T[K]> }
      : T;

/**
 * A recipe built on another: objects merge key by key, arrays and scalars replace, and a method of another
 * `kind` replaces the base method whole (its fields would not fit).
 */
export function extendRecipe<Name extends string = never, Added extends string = never>(
  base: RecipeOf<Name> | RecipeInput,
  overrides: RecipeOverridesOf<Name, Added>,
): RecipeOf<Name | Added> {
  const merged = deepMerge(base, overrides) as RecipeOf<Name | Added>;
  const baseMethod = (base as RecipeInput).method;
  if (overrides.method?.kind && overrides.method.kind !== baseMethod?.kind) {
    (merged as RecipeInput).method = overrides.method as RecipeInput["method"];
  }
  tagSource(merged, callerFile());
  return merged;
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  mergeOrigins(out, base, over);
  return out;
}

/**
 * A piece of a recipe (data sources, a model, a template) shared from another file or package: its relative
 * paths resolve against the file that calls this, wherever the piece is used.
 */
export function definePreset<T extends object>(preset: T): T {
  const file = callerFile();
  if (file) tagOrigins(preset, file);
  return preset;
}

function tagSource(recipe: object, file: string | undefined): void {
  if (!file || typeof recipe !== "object" || recipe === null) return;
  // Keys a base recipe or preset already marked keep their file: relative paths resolve against it.
  tagOrigins(recipe, file);
  Object.defineProperty(recipe, recipeSourceFile, { value: file, enumerable: false, configurable: true });
}

/** The source file that called into this module (first stack frame outside it and the files in `skip`). */
export function callerFile(skip: readonly string[] = []): string | undefined {
  const original = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = (_err, frames) => frames;
    const frames = new Error().stack as unknown as NodeJS.CallSite[];
    const asPath = (name: string) => (name.startsWith("file:") ? fileURLToPath(name) : name);
    const here = frames[0]?.getFileName();
    const skipped = new Set([...(here ? [asPath(here)] : []), ...skip]);
    for (const frame of frames) {
      const name = frame.getFileName();
      if (name && !skipped.has(asPath(name)) && !name.startsWith("node:")) return asPath(name);
    }
  } catch {
    // Stack introspection is best effort: without it, diagnostics lose their locations, nothing else.
  } finally {
    Error.prepareStackTrace = original;
  }
  return undefined;
}
