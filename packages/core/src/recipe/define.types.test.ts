// Type-level tests: what the editor must reject in a recipe. `tsc --noEmit` (CI) fails if an expected error vanishes.
import { describe, expectTypeOf, it } from "vitest";
import { defineRecipe, extendRecipe, type RecipeOf } from "./define.ts";
import type { Recipe, RecipeInput } from "./schema/recipe.ts";

const base = {
  model: { path: "./model" },
  data: { sources: { chat: { path: "chat.jsonl", format: "messages" as const } } },
};

describe("recipe types", () => {
  it("accepts a well-formed recipe and keeps its literal token names", () => {
    const r = defineRecipe({
      ...base,
      tokens: {
        add: ["<|user|>", { content: "<|end|>", init: "noise" }],
        eos: "<|end|>",
        pad: { vocab: "<unk>" },
      },
      method: { kind: "frozen", trainable: { newTokens: ["<|user|>"] } },
    });
    expectTypeOf(r).toEqualTypeOf<RecipeOf<"<|user|>" | "<|end|>">>();
    expectTypeOf(r.tokens!.eos).toEqualTypeOf<
      "<|user|>" | "<|end|>" | { vocab: string } | { id: number } | undefined
    >();
  });

  it("rejects unknown keys at any depth", () => {
    defineRecipe({
      ...base,
      method: { kind: "full" },
      // @ts-expect-error a misspelled top-level key
      trian: { epochs: 1 },
    });
    defineRecipe({
      ...base,
      method: { kind: "full" },
      // @ts-expect-error a misspelled nested key
      train: { learningrate: 1e-4 },
    });
  });

  it("rejects fields of another method kind", () => {
    // @ts-expect-error `rank` is a lora/qlora field, not a `full` one
    defineRecipe({ ...base, method: { kind: "full", rank: 8 } });
    // @ts-expect-error prefix tuning has no target modules
    defineRecipe({ ...base, method: { kind: "prefix", targets: ["q_proj"] } });
    // @ts-expect-error not a method kind
    defineRecipe({ ...base, method: { kind: "lorra" } });
    defineRecipe({ ...base, method: { kind: "lora", rank: 8, targets: "all-linear" } });
  });

  it("rejects a misspelled token name wherever tokens are referenced", () => {
    defineRecipe({
      ...base,
      // @ts-expect-error "<|ned|>" is not among tokens.add
      tokens: { add: ["<|end|>"], eos: "<|ned|>" },
      method: { kind: "full" },
    });
    defineRecipe({
      ...base,
      tokens: { add: ["<|user|>"] },
      // @ts-expect-error "<|usr|>" is not among tokens.add
      method: { kind: "frozen", trainable: { newTokens: ["<|usr|>"] } },
    });
    // Without added tokens, a bare name is an error; existing tokens are named explicitly.
    // @ts-expect-error no tokens are added, so no name can be referenced
    defineRecipe({ ...base, tokens: { eos: "</s>" }, method: { kind: "full" } });
    defineRecipe({ ...base, tokens: { eos: { vocab: "</s>" } }, method: { kind: "full" } });
  });

  it("rejects wrong value types", () => {
    // @ts-expect-error learningRate is a number
    defineRecipe({ ...base, method: { kind: "full" }, train: { learningRate: "3e-4" } });
    defineRecipe({
      model: { path: "." },
      // @ts-expect-error an unknown data format
      data: { sources: { a: { path: "a.json", format: "alpacca" } } },
      method: { kind: "full" },
    });
  });

  it("types token names through extendRecipe: the base's and the overrides' own", () => {
    const parent = defineRecipe({ ...base, tokens: { add: ["<|end|>"] }, method: { kind: "full" } });
    const child = extendRecipe(parent, { tokens: { eos: "<|end|>" } });
    expectTypeOf(child).toEqualTypeOf<RecipeOf<"<|end|>">>();
    // @ts-expect-error a token name neither the base nor the overrides add
    extendRecipe(parent, { tokens: { eos: "<|ned|>" } });
    const more = extendRecipe(parent, { tokens: { add: ["<|user|>"], bos: "<|user|>", eos: "<|end|>" } });
    expectTypeOf(more).toEqualTypeOf<RecipeOf<"<|end|>" | "<|user|>">>();
    // A base typed only as RecipeInput (its names unknown) takes any name.
    const loose: RecipeInput = { ...base, method: { kind: "full" } };
    extendRecipe(loose, { tokens: { eos: "<|anything|>" } });
  });

  it("types extendRecipe overrides as a deep partial of the recipe", () => {
    const parent = defineRecipe({ ...base, method: { kind: "lora", rank: 16 } });
    const child = extendRecipe(parent, { method: { kind: "lora", rank: 4 }, train: { epochs: 2 } });
    expectTypeOf(child).toMatchTypeOf<RecipeInput>();
    // @ts-expect-error overrides are checked too
    extendRecipe(parent, { train: { epoch: 2 } });
  });

  it("derives input and output types from the schema", () => {
    expectTypeOf<Recipe["train"]["maxLength"]>().toEqualTypeOf<number>();
    expectTypeOf<NonNullable<RecipeInput["train"]>["maxLength"]>().toEqualTypeOf<number | undefined>();
    expectTypeOf<Recipe["method"]["kind"]>().toEqualTypeOf<
      "full" | "partial" | "frozen" | "lora" | "qlora" | "prefix"
    >();
  });
});
