// The activation estimate for the families beyond Llama against what their forward keeps (tfjs ops).
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { activationBytes } from "./activations.ts";
import { initBackend } from "./backend.ts";
import { parseHfConfig } from "./config.ts";
import { randomModel } from "./llama.ts";
import { withoutNative } from "./native/load.ts";
import { lossTensor } from "./train-step.ts";

beforeAll(async () => {
  await initBackend();
});

/** Bytes held when the backward pass starts: what the forward (loss included) kept. */
function keptBytes(
  cfgJson: Record<string, unknown>,
  B: number,
  S: number,
): { measured: number; cfg: ReturnType<typeof parseHfConfig> } {
  const cfg = parseHfConfig(cfgJson, "config.json");
  const m = randomModel(cfg);
  const vars = m.parameters().map(([, v]) => v);
  const ids = Int32Array.from({ length: B * S }, (_, i) => 3 + (i % 50));
  let atBackward = 0;
  const before = tf.memory().numBytes;
  const mark = tf.customGrad((x, _save) => ({
    value: tf.clone(x as tf.Tensor),
    gradFunc: (dy) => {
      atBackward = tf.memory().numBytes;
      return [dy as tf.Tensor];
    },
  }));
  const { value, grads } = tf.variableGrads(
    () =>
      mark(lossTensor(m, { batch: { batch: B, seqLen: S, ids }, labels: ids }, new Set(vars))) as tf.Scalar,
    vars,
  );
  tf.dispose([value, ...Object.values(grads)]);
  m.dispose();
  return { measured: atBackward - before, cfg };
}

const base = {
  vocab_size: 256,
  hidden_size: 64,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  max_position_embeddings: 256,
};

describe("activationBytes for the families beyond Llama", () => {
  it.each([
    ["qwen3", { ...base, model_type: "qwen3" }],
    ["gemma2", { ...base, model_type: "gemma2", sliding_window: 8 }],
    [
      "gemma2 without caps",
      { ...base, model_type: "gemma2", attn_logit_softcapping: null, final_logit_softcapping: null },
    ],
    ["gemma3_text", { ...base, model_type: "gemma3_text", sliding_window: 8 }],
  ])("%s: the estimate is within 10% of what the forward keeps", (_, json) =>
    withoutNative(async () => {
      const { measured, cfg } = keptBytes(json, 2, 32);
      const est = activationBytes(cfg, { batch: 2, seqLen: 32 });
      expect(Math.abs(est.saved - measured) / measured).toBeLessThan(0.1);
    }),
  );
});
