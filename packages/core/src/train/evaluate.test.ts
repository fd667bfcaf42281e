import { beforeAll, describe, expect, it } from "vitest";
import { createTfjsEngine } from "../engines/tfjs/engine.ts";
import { initBackend } from "../model/backend.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { fillBatch } from "./batches.ts";
import { evalSamples, evaluate } from "./evaluate.ts";
import { compileTest, storiesDir, testRecipe } from "./fixtures.testing.ts";

// The first initialisation fixes wasm threads: one, as in the other tests.
beforeAll(async () => {
  await initBackend();
});

describe("evaluate", () => {
  it("gives the training loss of the same samples, through the method's hooks (LoRA, trained token rows)", async () => {
    const { plan, compiled } = await compileTest(
      testRecipe({ steps: 1 }, {
        tokens: { add: ["<|q|>"] },
        method: { kind: "lora", rank: 4, targets: "all-linear", dropout: 0, trainNewTokens: true },
      } as Partial<RecipeInput>),
    );
    const engine = await createTfjsEngine(plan);
    try {
      await engine.load({ plan, model: { dir: storiesDir } });
      // Move every trainable off its initial value, so a hook the evaluation missed would show.
      // Token rows move far: through the tied head they change every softmax's normaliser.
      const state = await engine.readState();
      for (const w of state.weights) {
        const std = w.name.includes("trainable_tokens") ? 2 : 0.05;
        w.data = w.data.map((x, i) => x + std * Math.sin(i * 12.9898 + 78.233));
      }
      await engine.writeState(state);
      const samples = evalSamples(plan, compiled.data!.prepared!);
      const got = await evaluate(engine, samples, plan, 0);
      const longest = Math.max(...samples.map((s) => s.inputIds.length));
      const one = fillBatch(
        samples.map((s) => [{ sample: s, start: 0 }]),
        longest,
        0,
      );
      const want = await engine.forwardBackward({ ...one.batch, labels: one.labels }, { seed: 0 });
      expect(got!.tokens).toBe(want.trainedTokens);
      expect(got!.loss).toBeCloseTo(want.lossSum / want.trainedTokens, 4);
    } finally {
      engine.dispose();
    }
  });
});
