import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { buildMethod, growVocabulary } from "../model/adapters/index.ts";
import { initBackend } from "../model/backend.ts";
import { loadModel } from "../model/llama.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { fillBatch } from "./batches.ts";
import { evalSamples, evaluate } from "./evaluate.ts";
import { compileTest, storiesDir, testRecipe } from "./fixtures.testing.ts";
import { stepGradients } from "./step.ts";

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
    const model = await loadModel(storiesDir);
    await growVocabulary(model, plan);
    const method = buildMethod(model, plan, 1);
    // Move every trainable off its initial value, so a hook the evaluation missed would show.
    // Token rows move far: through the tied head they change every softmax's normaliser.
    for (const [name, v] of method.trainable) {
      const std = name.includes("trainable_tokens") ? 2 : 0.05;
      tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, std, "float32", 3))));
    }
    const samples = evalSamples(plan, compiled.data!.prepared!);
    const got = await evaluate(model, method, samples, plan, 0);
    const longest = Math.max(...samples.map((s) => s.inputIds.length));
    const one = fillBatch(
      samples.map((s) => [{ sample: s, start: 0 }]),
      longest,
      0,
    );
    const vars = [...method.trainable.values()];
    const want = await stepGradients(model, vars, [one], {
      forward: () => method.forward(false, 0),
      clipNorm: 0,
    });
    expect(got!.tokens).toBe(want.trainedTokens);
    expect(got!.loss).toBeCloseTo(want.loss, 4);
    tf.dispose(want.grads);
    method.dispose();
    model.dispose();
  });
});
