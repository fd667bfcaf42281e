// Type-level tests: what the editor must reject in a sweep. `tsc --noEmit` (CI) fails if an expected error vanishes.
import { describe, expectTypeOf, it } from "vitest";
import { defineRecipe } from "./define.ts";
import type { RecipeInput } from "./schema/recipe.ts";
import { defineSweep, type RecipePath, type RecipePathValue, type SweepAxes } from "./sweep.ts";

const base = defineRecipe({
  model: { path: "./model" },
  data: { sources: { chat: { path: "chat.jsonl", format: "messages" } } },
  method: { kind: "lora", rank: 8 },
});

describe("sweep types", () => {
  it("types each axis path by the schema: numbers, enums, booleans, lists, a named source's field", () => {
    expectTypeOf<RecipePathValue<RecipeInput, "train.learningRate">>().toEqualTypeOf<number>();
    expectTypeOf<RecipePathValue<RecipeInput, "train.schedule">>().toEqualTypeOf<
      "cosine" | "linear" | "constant"
    >();
    expectTypeOf<RecipePathValue<RecipeInput, "train.gradientCheckpointing">>().toEqualTypeOf<boolean>();
    expectTypeOf<RecipePathValue<RecipeInput, "data.sources.chat.weight">>().toEqualTypeOf<number>();
    expectTypeOf<"method.rank">().toExtend<RecipePath>();
    expectTypeOf<"data.sources.chat.weight">().toExtend<RecipePath>();
    expectTypeOf<"train.learningrate">().not.toExtend<RecipePath>();
    defineSweep(base, {
      axes: {
        "train.learningRate": [1e-4, 3e-4],
        "method.rank": [8, 16],
        "train.schedule": ["cosine", "linear"],
        "train.packing": [true, false],
        "data.sources.chat.weight": [1, 2],
      },
      mode: { random: 3, seed: 1 },
    });
  });

  it("rejects a wrong path and a value of the wrong type", () => {
    const wrongPath: SweepAxes = {
      // @ts-expect-error a misspelled path
      "train.learningrate": [1e-4],
    };
    const wrongValue: SweepAxes = {
      // @ts-expect-error a string where the schema wants a number
      "train.learningRate": ["3e-4"],
    };
    const wrongEnum: SweepAxes = {
      // @ts-expect-error not one of the schedules
      "train.schedule": ["cosin"],
    };
    expectTypeOf(wrongPath).toEqualTypeOf<SweepAxes>();
    expectTypeOf(wrongValue).toEqualTypeOf<SweepAxes>();
    expectTypeOf(wrongEnum).toEqualTypeOf<SweepAxes>();
  });
});
