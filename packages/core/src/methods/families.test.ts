// Every method on every family beyond Llama: a few SGD steps on a tiny random model through the method's own
// runtime (its hooks, its trainable tensors) bring the loss down, and leave no tensors behind.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../model/backend.ts";
import { packRows } from "../model/batch.ts";
import { parseHfConfig } from "../model/config.ts";
import { randomModel } from "../model/llama.ts";
import { lossAndGrads, sgdUpdate } from "../model/train-step.ts";
import { buildMethodRuntime } from "./runtime.ts";
import { newToken, testPlan } from "./testing.ts";

beforeAll(async () => {
  await initBackend();
});

const small = {
  vocab_size: 64,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  max_position_embeddings: 64,
};

const families: [string, Record<string, unknown>][] = [
  ["mistral (window 4)", { ...small, model_type: "mistral", sliding_window: 4 }],
  [
    "qwen3 (window 4 on layer 1)",
    { ...small, model_type: "qwen3", use_sliding_window: true, sliding_window: 4, max_window_layers: 1 },
  ],
  [
    "gemma2",
    {
      ...small,
      model_type: "gemma2",
      sliding_window: 4,
      attn_logit_softcapping: 2,
      final_logit_softcapping: 5,
    },
  ],
  ["gemma3_text", { ...small, model_type: "gemma3_text", sliding_window: 4, sliding_window_pattern: 2 }],
];

const methods: [string, object, number][] = [
  ["full", { kind: "full" }, 0.5],
  ["partial", { kind: "partial", lastLayers: 1, lmHead: true }, 0.5],
  ["lora", { kind: "lora", rank: 4, alpha: 8, targets: "all-linear" }, 0.3],
  ["qlora", { kind: "qlora", rank: 4, alpha: 8, targets: "all-linear" }, 0.3],
  ["prefix", { kind: "prefix", virtualTokens: 4 }, 2],
  ["frozen", { kind: "frozen", trainable: { newTokens: true } }, 1],
];

describe.each(families)("%s", (_, json) => {
  it.each(methods)("%s: the loss falls in 8 SGD steps", async (_name, method, lr) => {
    const cfg = parseHfConfig(json, "config.json");
    const V = cfg.vocabSize;
    const m = randomModel(cfg, { seed: 4, std: 0.2 });
    const rt = buildMethodRuntime(m, testPlan(cfg, method, { added: [newToken("<a>", V)] }), 3);
    const batch = packRows([
      [
        [1, 5, V, 7, 9, 11, 13, 2, 5, V, 7, 9],
        [1, 20, V, 22, 23],
      ],
    ]);
    const labels = Int32Array.from(batch.ids, (id, i) => (batch.segments![i] ? id : -100));
    const vars = [...rt.trainable.values()];
    expect(vars.length).toBeGreaterThan(0);
    const losses: number[] = [];
    let tensors = 0;
    for (let step = 0; step < 8; step++) {
      const r = await lossAndGrads(m, { batch, labels }, vars, { hooks: rt.forward(true, step).hooks });
      sgdUpdate(vars, r.grads, lr / r.tokens);
      tf.dispose(r.grads);
      losses.push(r.loss);
      if (step === 1) tensors = tf.memory().numTensors;
    }
    expect(Number.isFinite(losses[0])).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.95);
    expect(tf.memory().numTensors).toBe(tensors);
    rt.dispose();
    m.dispose();
  });
});
