// Each family's forward against the float64 reference (reference-forward.ts, written from transformers'
// modeling_<family>.py at 000c33fdfde12e1ffafbfcdb3c926df5727a00b6), on random checkpoints read from their
// config.json: sequences longer than the sliding window, bf16 weights, prefixes, packing and the KV cache.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeRandomCheckpoint } from "../../testing/random-checkpoint.ts";
import { initBackend } from "../backend.ts";
import { packRows } from "../batch.ts";
import { Checkpoint } from "../checkpoint.ts";
import { parseHfConfig } from "../config.ts";
import { loadModel, Model } from "../llama.ts";
import { referenceLogits } from "../reference-forward.ts";
import { embeddingScale } from "../rope.ts";
import { lossAndGrads, shiftLabels } from "../train-step.ts";

let root: string;
beforeAll(async () => {
  await initBackend();
  root = await mkdtemp(join(tmpdir(), "sft-family-forward-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function maxAbsDiff(a: number[][], b: number[][]): number {
  let m = 0;
  a.forEach((r, i) => {
    r.forEach((v, j) => {
      m = Math.max(m, Math.abs(v - b[i]![j]!));
    });
  });
  return m;
}

async function hfWeights(dir: string): Promise<Map<string, Float32Array>> {
  const ck = await Checkpoint.open(dir);
  const w = new Map<string, Float32Array>();
  for (const n of ck.names()) w.set(n, await ck.readF32(n));
  await ck.close();
  return w;
}

const small = {
  vocab_size: 64,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-6,
};

/** 13 tokens: longer than every window below. */
const ids = [1, 5, 9, 33, 2, 7, 60, 12, 3, 44, 18, 27, 6];

export const familyCases: [string, Record<string, unknown>][] = [
  ["mistral, sliding window 4 on every layer", { ...small, model_type: "mistral", sliding_window: 4 }],
  [
    "qwen2, sliding window 3 from layer 1 (max_window_layers)",
    {
      ...small,
      model_type: "qwen2",
      rope_theta: 1e6,
      use_sliding_window: true,
      sliding_window: 3,
      max_window_layers: 1,
    },
  ],
  [
    "qwen3, tied, head_dim 16 (not hidden/heads), q/k norms",
    { ...small, model_type: "qwen3", head_dim: 16, tie_word_embeddings: true, rope_theta: 1e6 },
  ],
  [
    "qwen3, untied, attention_bias, sliding layer_types",
    {
      ...small,
      model_type: "qwen3",
      head_dim: 16,
      tie_word_embeddings: false,
      attention_bias: true,
      use_sliding_window: true,
      sliding_window: 5,
      layer_types: ["sliding_attention", "full_attention"],
    },
  ],
  [
    "gemma2, window 4 on layers 0 and 2, capped attention and logits, query_pre_attn_scalar 24",
    {
      ...small,
      model_type: "gemma2",
      num_hidden_layers: 3,
      head_dim: 16,
      hidden_act: "gelu_pytorch_tanh",
      hidden_activation: "gelu_pytorch_tanh",
      query_pre_attn_scalar: 24,
      sliding_window: 4,
      attn_logit_softcapping: 1.5,
      final_logit_softcapping: 3,
    },
  ],
  [
    "gemma3_text, window 4 on layers 0 and 1 (pattern 3), local RoPE base, q/k norms",
    {
      ...small,
      model_type: "gemma3_text",
      num_hidden_layers: 3,
      head_dim: 16,
      hidden_activation: "gelu_pytorch_tanh",
      query_pre_attn_scalar: 16,
      sliding_window: 4,
      sliding_window_pattern: 3,
      rope_theta: 1e6,
      rope_local_base_freq: 100,
    },
  ],
];

describe.each(familyCases)("%s", (name, json) => {
  const dir = () => join(root, name.replace(/\W+/g, "-"));
  let model: Model;
  beforeAll(async () => {
    await writeRandomCheckpoint(dir(), json, { seed: 7 });
    model = await loadModel(dir());
  });
  afterAll(() => model.dispose());

  it("loadModel(dir).logits equal the float64 reference within 1e-4, past the window", async () => {
    const got = (await model.logits([ids]))[0]!;
    const want = referenceLogits(model.config, await hfWeights(dir()), ids);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-4);
  });

  it("a bf16 checkpoint loads and matches the reference on its rounded weights", async () => {
    const at = `${dir()}-bf16`;
    await writeRandomCheckpoint(at, { ...json, torch_dtype: "bfloat16" }, { seed: 8, dtype: "BF16" });
    const m = await loadModel(at);
    expect(m.config.torchDtype).toBe("bfloat16");
    const want = referenceLogits(m.config, await hfWeights(at), ids);
    expect(maxAbsDiff((await m.logits([ids]))[0]!, want)).toBeLessThan(1e-4);
    m.dispose();
  });

  it("a prefix's logits are the first rows of the longer sequence's; a packed row equals its parts", async () => {
    const [full] = await model.logits([ids]);
    const [prefix] = await model.logits([ids.slice(0, 9)]);
    expect(maxAbsDiff(prefix!, full!.slice(0, 9))).toBeLessThan(1e-5);
    const other = [3, 8, 21, 4, 9, 11, 2];
    const t = model.logitsTensor(packRows([[ids, other]]));
    const packed = await t.array();
    t.dispose();
    const [alone] = await model.logits([other]);
    expect(maxAbsDiff(packed.slice(0, ids.length), full!)).toBeLessThan(1e-5);
    expect(maxAbsDiff(packed.slice(ids.length), alone!)).toBeLessThan(1e-5);
  });

  it("KV-cache decoding gives the logits of full recomputation at every step", async () => {
    const [full] = await model.logits([ids]);
    const cache = model.newCache();
    try {
      const step = async (chunk: number[]) => {
        const t = model.lastLogitsTensor(
          { batch: 1, seqLen: chunk.length, ids: Int32Array.from(chunk) },
          { cache },
        );
        const row = (await t.array())[0]!;
        t.dispose();
        return row;
      };
      // A prompt shorter than the window, then single tokens and a chunk that crosses it.
      const got = [await step(ids.slice(0, 3))];
      for (const id of ids.slice(3, 8)) got.push(await step([id]));
      got.push(await step(ids.slice(8)));
      const want = [full![2]!, ...full!.slice(3, 8), full![ids.length - 1]!];
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    } finally {
      Model.disposeCache(cache);
    }
  });

  it("a P-tuning prefix of cached keys/values continues the sequence as the cache does (the window counts it)", async () => {
    const cache = model.newCache();
    tf.dispose(
      model.lastLogitsTensor({ batch: 1, seqLen: 5, ids: Int32Array.from(ids.slice(0, 5)) }, { cache }),
    );
    const rest = ids.slice(5);
    const hooks = {
      prefix: (l: number) => ({
        key: tf.squeeze(cache.keys[l]!, [0]) as tf.Tensor3D,
        value: tf.squeeze(cache.values[l]!, [0]) as tf.Tensor3D,
      }),
    };
    const t = model.logitsTensor({ batch: 1, seqLen: rest.length, ids: Int32Array.from(rest) }, { hooks });
    const got = await t.array();
    t.dispose();
    Model.disposeCache(cache);
    const [full] = await model.logits([ids]);
    expect(maxAbsDiff(got, full!.slice(5))).toBeLessThan(1e-5);
  });

  it("training: the loss is the reference's cross-entropy; gradients (kernels, recompute) equal plain autodiff", async () => {
    const batch = packRows([[ids, [3, 8, 21, 4, 9, 11, 2]]]);
    const labels = Int32Array.from(batch.ids, (id, i) => (batch.segments![i] ? id : -100));
    // The embedding is left out: plain autodiff would need tfjs's GatherV2 gradient, which is not registered.
    const vars = model
      .parameters()
      .filter(([n]) => n !== "model.embed_tokens.weight")
      .map(([, v]) => v);
    const mine = await lossAndGrads(model, { batch, labels }, vars);
    const recomputed = await lossAndGrads(model, { batch, labels }, vars, { recompute: true });
    // The loss against the float64 reference's logits of the first sequence and the second.
    const w = await hfWeights(dir());
    let want = 0;
    for (const seq of [ids, [3, 8, 21, 4, 9, 11, 2]]) {
      const logits = referenceLogits(model.config, w, seq);
      for (let t = 0; t + 1 < seq.length; t++) {
        const row = logits[t]!;
        const mx = Math.max(...row);
        want += mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0)) - row[seq[t + 1]!]!;
      }
    }
    expect(Math.abs(mine.loss - want) / want).toBeLessThan(1e-5);
    const targets = shiftLabels(batch, labels);
    const keep = Array.from(targets, (t) => (t === -100 ? 0 : 1));
    const safe = Array.from(targets, (t) => Math.max(t, 0));
    const V = model.config.vocabSize;
    const plain = tf.variableGrads(() => {
      const logp = tf.logSoftmax(model.logitsTensor(batch, { batchedAttention: true }));
      const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.tensor1d(safe, "int32"), V)), 1);
      return tf.neg(tf.sum(tf.mul(picked, tf.tensor1d(keep)))) as tf.Scalar;
    }, vars);
    for (let i = 0; i < vars.length; i++) {
      const ref = plain.grads[vars[i]!.name]!;
      // Float32 sums over 18 tokens: relative to the gradient's size.
      const size = tf.tidy(() => Math.max(1, tf.max(tf.abs(ref)).dataSync()[0]!));
      for (const got of [mine.grads[i]!, recomputed.grads[i]!]) {
        const d = tf.tidy(() => tf.max(tf.abs(tf.sub(got, ref))).dataSync()[0]!);
        expect(d / size, vars[i]!.name).toBeLessThan(1e-5);
      }
    }
    tf.dispose([plain.value, ...Object.values(plain.grads), ...mine.grads, ...recomputed.grads]);
  });

  it("saves a config.json that parses back to the same config", async () => {
    const at = `${dir()}-saved`;
    await model.save(at);
    const written = JSON.parse(await readFile(join(at, "config.json"), "utf8"));
    expect(parseHfConfig(written, "saved")).toEqual(model.config);
  });
});

describe("gemma", () => {
  it("scales embeddings by sqrt(hidden_size) rounded to the model dtype", () => {
    expect(embeddingScale({ hiddenSize: 32, torchDtype: "float32" })).toBe(Math.fround(Math.sqrt(32)));
    // bf16 keeps 8 significant bits: 5.6568... -> 5.65625.
    expect(embeddingScale({ hiddenSize: 32, torchDtype: "bfloat16" })).toBe(5.65625);
    expect(embeddingScale({ hiddenSize: 2304, torchDtype: "bfloat16" })).toBe(48);
  });

  it("reads transformers' defaults: tied, head_dim 256, Gemma 2's caps 50/30, Gemma 3's none and 5:1 layers", () => {
    const g2 = parseHfConfig({ ...small, model_type: "gemma2", head_dim: 8 }, "c.json");
    expect(g2).toMatchObject({
      tieWordEmbeddings: true,
      attnLogitSoftcap: 50,
      finalLogitSoftcap: 30,
      queryPreAttnScalar: 256,
      slidingWindow: 4096,
      layerTypes: ["sliding_attention", "full_attention"],
      hiddenAct: "gelu_pytorch_tanh",
      normUnitOffset: true,
      embeddingScale: true,
      sandwichNorms: true,
    });
    const g3 = parseHfConfig({ ...small, model_type: "gemma3_text", num_hidden_layers: 7 }, "c.json");
    expect(g3).toMatchObject({ headDim: 256, qkNorm: true, attnLogitSoftcap: null, ropeLocalTheta: 10000 });
    expect(g3.layerTypes!.map((t) => t[0])).toEqual(["s", "s", "s", "s", "s", "f", "s"]);
    expect(() =>
      parseHfConfig(
        { ...small, model_type: "gemma2", hidden_activation: "relu", query_pre_attn_scalar: 0 },
        "c.json",
      ),
    ).toThrow(
      'c.json: field "hidden_activation" "relu" is not supported (only gelu_pytorch_tanh)\nc.json: field "query_pre_attn_scalar" must be positive, got 0',
    );
  });
});

describe("sliding windows", () => {
  it("change the logits only past the window (mistral and qwen2 honour it)", async () => {
    for (const [name, json] of familyCases.slice(0, 2)) {
      const at = join(root, `window-${name.replace(/\W+/g, "-")}`);
      await writeRandomCheckpoint(at, json, { seed: 9 });
      const windowed = await loadModel(at);
      const window = windowed.config.slidingWindow!;
      const plain = new Model({ ...windowed.config, slidingWindow: null }, windowed.weights);
      const [a] = await windowed.logits([ids]);
      const [b] = await plain.logits([ids]);
      expect(maxAbsDiff(a!.slice(0, window), b!.slice(0, window))).toBeLessThan(1e-6);
      expect(maxAbsDiff(a!.slice(window), b!.slice(window))).toBeGreaterThan(1e-3);
      windowed.dispose();
    }
  });

  it("read from config.json as transformers' config classes do", () => {
    const mistral = (extra: Record<string, unknown>) =>
      parseHfConfig({ ...small, model_type: "mistral", ...extra }, "c.json");
    expect(mistral({}).slidingWindow).toBe(4096);
    expect(mistral({ sliding_window: null }).slidingWindow).toBeUndefined();
    const qwen = (extra: Record<string, unknown>) =>
      parseHfConfig({ ...small, model_type: "qwen2", num_hidden_layers: 3, ...extra }, "c.json");
    // Qwen2Config: sliding_window is dropped unless use_sliding_window.
    expect(qwen({ sliding_window: 8 }).slidingWindow).toBeUndefined();
    expect(qwen({ use_sliding_window: true, sliding_window: 8, max_window_layers: 1 })).toMatchObject({
      slidingWindow: 8,
      layerTypes: ["full_attention", "sliding_attention", "sliding_attention"],
    });
    expect(() =>
      qwen({ use_sliding_window: true, sliding_window: 0, layer_types: ["full_attention", "sideways"] }),
    ).toThrow(
      /c\.json: field "sliding_window" must be an integer >= 1, got 0\nc\.json: field "layer_types\.1" must be "full_attention" or "sliding_attention"/,
    );
  });
});
