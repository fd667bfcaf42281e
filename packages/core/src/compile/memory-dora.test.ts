// The tfjs memory model's DoRA terms against what a DoRA forward really keeps for the backward pass.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { buildMethodRuntime } from "../methods/runtime.ts";
import { testPlan } from "../methods/testing.ts";
import { initBackend } from "../model/backend.ts";
import { fusedCrossEntropy } from "../model/kernels.ts";
import { randomModel } from "../model/llama.ts";
import { tinyConfig } from "../model/tiny.ts";
import { MethodSchema } from "../recipe/schema/method.ts";
import { doraBufferBytes, estimateMemory } from "./memory.ts";

beforeAll(async () => {
  await initBackend();
});

const cfg = tinyConfig("qwen2", {
  vocabSize: 512,
  numLayers: 2,
  hiddenSize: 64,
  numHeads: 8,
  intermediateSize: 100,
});
const [B, S] = [4, 64];

/** Bytes the forward keeps for the backward pass (held when the backward starts), with the method's hooks. */
function keptBytes(method: Record<string, unknown>): number {
  const m = randomModel(cfg, { seed: 2 });
  const rt = buildMethodRuntime(m, testPlan(cfg, method), 1);
  const vars = [...rt.trainable.values()];
  const ids = Int32Array.from({ length: B * S }, (_, i) => 3 + (i % 500));
  let atBackward = 0;
  const before = tf.memory().numBytes;
  const mark = tf.customGrad((x, _save) => ({
    value: tf.clone(x as tf.Tensor),
    gradFunc: (dy) => {
      atBackward = tf.memory().numBytes;
      return [dy as tf.Tensor];
    },
  }));
  const { value, grads } = tf.variableGrads(() => {
    const h = m.hidden(
      { batch: B, seqLen: S, ids },
      { trainable: new Set(vars), hooks: rt.forward(true, 0).hooks },
    );
    return fusedCrossEntropy(mark(h) as tf.Tensor2D, m.lmHeadT(), ids, { chunkRows: 1 });
  }, vars);
  tf.dispose([value, ...Object.values(grads)]);
  rt.dispose();
  m.dispose();
  return atBackward - before;
}

const planned = (method: Record<string, unknown>) =>
  estimateMemory({
    cfg,
    vocab: cfg.vocabSize,
    groups: [],
    method: MethodSchema.parse(method),
    tokensPerMicroBatch: B * S,
    sequenceLength: S,
    gradientCheckpointing: false,
    device: { backend: "wasm", bytes: 4 * 1024 ** 3, note: "" },
  });

describe("tfjs memory model: DoRA", () => {
  for (const dropout of [0, 0.1]) {
    it(`what DoRA keeps beyond LoRA (dropout ${dropout}) is planned within 20%`, () => {
      const lora = { kind: "lora", rank: 4, targets: "all-linear", dropout };
      const dora = { ...lora, dora: true };
      const measured = keptBytes(dora) - keptBytes(lora);
      // The norm buffers are held as well (tiny beside the per-token tensors).
      const estimated = planned(dora).activations - planned(lora).activations;
      expect(measured).toBeGreaterThan(0);
      expect(
        Math.abs(estimated - measured) / measured,
        `estimate ${estimated}, measured ${measured}`,
      ).toBeLessThan(0.2);
    });
  }

  it("the peak adds the norm buffers and one W + s·A·B; plain LoRA adds none", () => {
    const lora = { kind: "lora", rank: 4, targets: "all-linear", dropout: 0 };
    const dora = { ...lora, dora: true };
    expect(doraBufferBytes(cfg, MethodSchema.parse(lora))).toBe(0);
    const buffers = doraBufferBytes(cfg, MethodSchema.parse(dora));
    // The largest adapted linear of this model is 64 × 100 (gate/up/down), twice, in float32.
    expect(buffers).toBeGreaterThanOrEqual(2 * 64 * 100 * 4);
    const a = planned(lora);
    const d = planned(dora);
    expect(d.peak - a.peak).toBeGreaterThanOrEqual(d.activations - a.activations + buffers);
  });
});
