// The method options beyond the six kinds (DoRA, LoRA+, NEFTune, PiSSA, modules to save), each through the real loop on the real
// pretrained stories260K and the quickstart's chat data: the eval loss falls, and the artefacts reload (the
// adapter on the base gives the merged model's logits).
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { applyAdapter } from "../methods/load.ts";
import { loadModel } from "../model/llama.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { compileTest, storiesDir, testRecipe } from "./fixtures.testing.ts";
import { train } from "./loop.ts";

const batch = { batch: 1, seqLen: 8, ids: Int32Array.from([1, 65, 80, 91, 120, 33, 47, 200]) };

async function logits(dir: string, adapter?: string): Promise<Float32Array> {
  const m = await loadModel(dir);
  const a = adapter ? await applyAdapter(m, adapter) : undefined;
  const t = m.logitsTensor(batch, { hooks: a?.hooks });
  const out = (await t.data()) as Float32Array;
  t.dispose();
  a?.dispose();
  m.dispose();
  return out;
}

const runs: { name: string; method: RecipeInput["method"]; train?: Record<string, unknown> }[] = [
  { name: "DoRA", method: { kind: "lora", rank: 8, alpha: 16, targets: "all-linear", dora: true } },
  // B at 16 × 2e-3.
  {
    name: "LoRA+",
    method: { kind: "lora", rank: 8, alpha: 16, targets: "all-linear", loraPlusRatio: 16 },
    train: { learningRate: 2e-3 },
  },
  {
    name: "NEFTune",
    method: { kind: "lora", rank: 8, alpha: 16, targets: "all-linear" },
    train: { neftuneAlpha: 5 },
  },
  // The adapter is saved converted to plain LoRA (rank 16), so it applies to the original base below.
  {
    name: "PiSSA",
    method: { kind: "lora", rank: 8, alpha: 16, targets: "all-linear", init: "pissa_niter_4" },
  },
  {
    name: "modules to save",
    method: { kind: "lora", rank: 8, alpha: 16, targets: "all-linear", modulesToSave: ["norms", "lm_head"] },
  },
];

describe("method options train through the loop", () => {
  for (const { name, method, train: trainOver } of runs) {
    it(`${name}: eval loss falls; adapter on the base = merged model`, async () => {
      const recipe = testRecipe(
        { steps: 20, learningRate: 5e-3, warmupSteps: 2, eval: { maxSamples: 8, every: 20 }, ...trainOver },
        { method, acknowledge: ["sft/high-learning-rate"] },
      );
      recipe.output = { ...recipe.output, save: "both" };
      const { plan, compiled } = await compileTest(recipe);
      const r = await train(plan, { compiled, progress: "off", handleSigint: false, samples: 0 });
      expect(r.evalLoss!).toBeLessThan(r.initialEvalLoss! * 0.8);
      expect(r.artefacts).toEqual(
        expect.arrayContaining(
          ["adapter/adapter_model.safetensors", "model/model.safetensors"].map((f) => join(r.outputDir, f)),
        ),
      );
      const merged = await logits(join(r.outputDir, "model"));
      const viaAdapter = await logits(storiesDir, join(r.outputDir, "adapter"));
      const base = await logits(storiesDir);
      const diff = (a: Float32Array, b: Float32Array) =>
        a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
      expect(diff(merged, viaAdapter)).toBeLessThan(1e-3);
      // The adapter changed the model (the comparison above is not base = base).
      expect(diff(merged, base)).toBeGreaterThan(1e-2);
    });
  }
});
