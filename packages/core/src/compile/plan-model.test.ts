import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { compileRecipe } from "./compile.ts";
import { modelConfigOfPlan } from "./plan-model.ts";

const repo = join(import.meta.dirname, "../../../..");
const stories = join(repo, "examples/models/stories260K");

function recipe(model: RecipeInput["model"]): RecipeInput {
  return {
    name: "t-plan-model",
    model,
    tokenizer: stories,
    template: "llama-2",
    data: {
      sources: { chat: { path: join(repo, "examples/quickstart/data/chat.jsonl"), format: "messages" } },
    },
    method: { kind: "lora", rank: 4 },
    output: { dir: mkdtempSync(join(tmpdir(), "sft-plan-model-")) },
  };
}

describe("modelConfigOfPlan", () => {
  it("gives back the model the compiler resolved, from the plan alone (bos/eos ids are not in the plan)", async () => {
    const models: RecipeInput["model"][] = [
      { path: stories },
      {
        architecture: {
          type: "qwen2",
          vocabSize: 512,
          hiddenSize: 64,
          intermediateSize: 176,
          numLayers: 2,
          numHeads: 4,
          numKvHeads: 2,
          ropeTheta: 1e6,
        },
      },
    ];
    for (const model of models) {
      const result = await compileRecipe(recipe(model), { write: false });
      const resolved = result.resolved?.model?.config;
      if (!result.plan || !resolved) throw new Error(JSON.stringify(result.diagnostics));
      expect(modelConfigOfPlan(result.plan)).toEqual({ ...resolved, bosTokenId: null, eosTokenId: null });
    }
  });
});
