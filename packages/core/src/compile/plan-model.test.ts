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
      {
        architecture: {
          type: "qwen3",
          vocabSize: 512,
          hiddenSize: 64,
          intermediateSize: 176,
          numLayers: 2,
          numHeads: 4,
          numKvHeads: 2,
          headDim: 32,
          tieWordEmbeddings: true,
        },
      },
      {
        architecture: {
          type: "gemma3_text",
          vocabSize: 512,
          hiddenSize: 64,
          intermediateSize: 176,
          numLayers: 7,
          numHeads: 4,
          numKvHeads: 1,
          headDim: 32,
          maxPositionEmbeddings: 8192,
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

  it("plans a Qwen3-0.6B-shaped model: 596,049,920 parameters, q/k norms, on native where it is built", async () => {
    // Qwen/Qwen3-0.6B's config.json: vocab 151936, d 1024, 28 layers, 16/8 heads of 128, ffn 3072, tied.
    // Embedding 151936*1024 + 28 * (q 1024*2048 + k,v 2*1024*1024 + o 2048*1024 + 3*1024*3072 + norms
    // 2*1024 + 2*128) + final norm 1024 = 596,049,920 (0.44B without the embedding, as its model card says).
    const result = await compileRecipe(
      recipe({
        architecture: {
          type: "qwen3",
          vocabSize: 151936,
          hiddenSize: 1024,
          intermediateSize: 3072,
          numLayers: 28,
          numHeads: 16,
          numKvHeads: 8,
          headDim: 128,
          maxPositionEmbeddings: 40960,
          ropeTheta: 1e6,
          tieWordEmbeddings: true,
        },
      }),
      { write: false },
    );
    const plan = result.plan;
    if (!plan) throw new Error(JSON.stringify(result.diagnostics));
    expect(plan.model.parameters).toBe(596_049_920);
    expect(plan.model.parameters - 151936 * 1024).toBe(440_467_456);
    expect(plan.model.config).toMatchObject({ headDim: 128, qkNorm: true, tieWordEmbeddings: true });
    const nativeBuilt = plan.engine?.available.find((e) => e.name === "native")?.available ?? false;
    expect(plan.engine?.chosen).toBe(nativeBuilt ? "native" : "tfjs");
  });

  it("plans a Gemma-3-1B-shaped model: 999,885,952 parameters, its norms counted, on native where it is built", async () => {
    // google/gemma-3-1b-pt's config.json: vocab 262144, d 1152, 26 layers, 4 heads and 1 kv head of 256,
    // ffn 6912, tied. Embedding 262144*1152 + 26 * (q 1152*1024 + k,v 2*1152*256 + o 1024*1152 +
    // 3*1152*6912 + four d-norms 4*1152 + q/k norms 2*256) + final norm 1152 = 999,885,952.
    const result = await compileRecipe(
      recipe({
        architecture: {
          type: "gemma3_text",
          vocabSize: 262144,
          hiddenSize: 1152,
          intermediateSize: 6912,
          numLayers: 26,
          numHeads: 4,
          numKvHeads: 1,
          headDim: 256,
          maxPositionEmbeddings: 32768,
          ropeTheta: 1e6,
          tieWordEmbeddings: true,
        },
      }),
      { write: false },
    );
    const plan = result.plan;
    if (!plan) throw new Error(JSON.stringify(result.diagnostics));
    expect(plan.model.parameters).toBe(999_885_952);
    expect(plan.model.config).toMatchObject({ qkNorm: true, sandwichNorms: true, normUnitOffset: true });
    const nativeBuilt = plan.engine?.available.find((e) => e.name === "native")?.available ?? false;
    expect(plan.engine?.chosen).toBe(nativeBuilt ? "native" : "tfjs");
  });
});
