import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "./backend.ts";
import { packRows, padRows } from "./batch.ts";
import { Checkpoint, writeCheckpoint } from "./checkpoint.ts";
import type { ModelConfig } from "./config.ts";
import { type LinearSite, loadModel, type Model, randomModel } from "./llama.ts";
import { referenceLogits } from "./reference-forward.ts";
import { inverseFrequencies } from "./rope.ts";
import { tinyConfig } from "./tiny.ts";

let dir: string;
beforeAll(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), "sft-model-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
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

async function hfWeights(path: string): Promise<Map<string, Float32Array>> {
  const ck = await Checkpoint.open(path);
  const w = new Map<string, Float32Array>();
  for (const n of ck.names()) w.set(n, await ck.readF32(n));
  await ck.close();
  return w;
}

const ids = [1, 5, 9, 33, 2, 7, 60, 12, 3];

describe("forward against a float64 reference", () => {
  const cases: [string, ModelConfig][] = [
    ["llama (tied, GQA)", tinyConfig("llama")],
    ["qwen2 (qkv bias, untied, theta 1e6)", tinyConfig("qwen2")],
    ["mistral (MHA)", tinyConfig("mistral", { numKvHeads: 4 })],
    ["llama with attention and mlp bias", tinyConfig("llama", { attentionBias: true, mlpBias: true })],
    [
      "llama3 rope scaling",
      tinyConfig("llama", {
        ropeTheta: 500000,
        ropeScaling: {
          type: "llama3",
          factor: 8,
          lowFreqFactor: 1,
          highFreqFactor: 4,
          originalMaxPositionEmbeddings: 16,
        },
      }),
    ],
    ["linear rope scaling", tinyConfig("llama", { ropeScaling: { type: "linear", factor: 4 } })],
  ];
  for (const [what, cfg] of cases) {
    it(`${what}: save -> load -> logits equal the reference and the saved model`, async () => {
      const m = randomModel(cfg, { seed: 3, std: 0.2 });
      const p = join(dir, what.replace(/\W+/g, "-"));
      await m.save(p);
      const before = await m.logits([ids]);
      const loaded = await loadModel(p);
      expect(loaded.config).toEqual(m.config);
      const after = await loaded.logits([ids]);
      expect(maxAbsDiff(before[0]!, after[0]!)).toBe(0);
      const ref = referenceLogits(cfg, await hfWeights(p), ids);
      expect(maxAbsDiff(after[0]!, ref)).toBeLessThan(1e-4);
      m.dispose();
      loaded.dispose();
    });
  }

  it("bf16 checkpoint loads and matches the reference on the rounded weights", async () => {
    const cfg = tinyConfig("qwen2");
    const m = randomModel(cfg, { seed: 5, std: 0.2 });
    const p = join(dir, "bf16");
    await m.save(p, { dtype: "BF16" });
    const ck = await Checkpoint.open(p);
    expect(ck.info("model.embed_tokens.weight").dtype).toBe("BF16");
    await ck.close();
    const loaded = await loadModel(p);
    expect(loaded.config.torchDtype).toBe("bfloat16");
    const ref = referenceLogits(cfg, await hfWeights(p), ids);
    expect(maxAbsDiff((await loaded.logits([ids]))[0]!, ref)).toBeLessThan(1e-4);
    // bf16 keeps 8 bits of mantissa: logits move a little from the f32 model, not a lot.
    const diff = maxAbsDiff((await m.logits([ids]))[0]!, ref);
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(0.1);
    m.dispose();
    loaded.dispose();
  });

  it("llama3 inverse frequencies follow transformers' formula", () => {
    const cfg = tinyConfig("llama", {
      headDim: 64,
      numHeads: 1,
      numKvHeads: 1,
      ropeTheta: 500000,
      ropeScaling: {
        type: "llama3",
        factor: 8,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 8192,
      },
    });
    const inv = inverseFrequencies(cfg);
    // Highest frequency is untouched, lowest is divided by the factor.
    expect(inv[0]).toBeCloseTo(1, 12);
    expect(inv[31]).toBeCloseTo(1 / 500000 ** (62 / 64) / 8, 15);
  });
});

describe("masks and layouts", () => {
  let m: Model;
  beforeAll(() => {
    m = randomModel(tinyConfig("llama"), { seed: 1, std: 0.2 });
  });
  afterAll(() => m.dispose());

  it("padding does not change the logits of the real tokens", async () => {
    const a = [1, 4, 5, 6, 7, 8];
    const b = [1, 9, 10];
    const [la, lb] = await m.logits([a, b]);
    const [sa] = await m.logits([a]);
    const [sb] = await m.logits([b]);
    expect(maxAbsDiff(la!, sa!)).toBeLessThan(1e-5);
    expect(lb!.length).toBe(3);
    expect(maxAbsDiff(lb!, sb!)).toBeLessThan(1e-5);
  });

  it("a packed row equals its sequences run separately (block-diagonal mask, positions restart)", async () => {
    const s1 = [1, 4, 5, 6];
    const s2 = [1, 9, 10, 11, 12];
    const packed = packRows([[s1, s2]]);
    const t = m.logitsTensor(packed);
    const flat = await t.array();
    t.dispose();
    const [l1] = await m.logits([s1]);
    const [l2] = await m.logits([s2]);
    expect(maxAbsDiff(flat.slice(0, 4), l1!)).toBeLessThan(1e-5);
    expect(maxAbsDiff(flat.slice(4, 9), l2!)).toBeLessThan(1e-5);
  });

  it("KV cache continuation equals the full forward", async () => {
    const cache = m.newCache();
    const full = padRows([ids]);
    const fullT = m.logitsTensor(full);
    const want = (await fullT.array()).at(-1)!;
    fullT.dispose();
    tf.dispose(m.lastLogitsTensor({ batch: 1, seqLen: 6, ids: Int32Array.from(ids.slice(0, 6)) }, { cache }));
    let last: number[] = [];
    for (const id of ids.slice(6)) {
      const t = m.lastLogitsTensor({ batch: 1, seqLen: 1, ids: Int32Array.from([id]) }, { cache });
      last = (await t.array())[0]!;
      t.dispose();
    }
    const { Model } = await import("./llama.ts");
    Model.disposeCache(cache);
    expect(maxAbsDiff([last], [want])).toBeLessThan(1e-5);
  });

  it("prefix hook: cached keys/values given as a prefix reproduce the continuation", async () => {
    const cache = m.newCache();
    tf.dispose(m.lastLogitsTensor({ batch: 1, seqLen: 5, ids: Int32Array.from(ids.slice(0, 5)) }, { cache }));
    const rest = ids.slice(5);
    const hooks = {
      prefix: (l: number) => ({
        key: tf.squeeze(cache.keys[l]!, [0]) as tf.Tensor3D,
        value: tf.squeeze(cache.values[l]!, [0]) as tf.Tensor3D,
      }),
    };
    const t = tf.tidy(() =>
      m.logitsTensor({ batch: 1, seqLen: rest.length, ids: Int32Array.from(rest) }, { hooks }),
    );
    const got = await t.array();
    t.dispose();
    const { Model } = await import("./llama.ts");
    Model.disposeCache(cache);
    const [full] = await m.logits([ids]);
    expect(maxAbsDiff(got, full!.slice(5))).toBeLessThan(1e-5);
  });

  it("linear hook adds to a module's output (a LoRA with B = 0 changes nothing)", async () => {
    const A = tf.randomNormal([32, 4]) as tf.Tensor2D;
    const B = tf.zeros([4, 32]) as tf.Tensor2D;
    const hooks = {
      linear: (x: tf.Tensor2D, base: (x: tf.Tensor2D) => tf.Tensor2D, site: LinearSite) =>
        site.module === "q_proj" ? site.add(base(x), tf.matMul(tf.matMul(x, A), B) as tf.Tensor2D) : base(x),
    };
    const b = padRows([ids]);
    const t1 = m.logitsTensor(b, { hooks });
    const t2 = m.logitsTensor(b);
    expect(maxAbsDiff(await t1.array(), await t2.array())).toBe(0);
    tf.dispose([t1, t2, A, B]);
  });
});

describe("loading errors", () => {
  it("names the missing tensor and a wrong shape", async () => {
    const cfg = tinyConfig("llama", { numLayers: 1 });
    const m = randomModel(cfg);
    const p = join(dir, "broken");
    await m.save(p);
    const tensors = m.checkpointTensors().filter((t) => t.name !== "model.norm.weight");
    await writeCheckpoint(p, tensors);
    await expect(loadModel(p)).rejects.toThrow(
      /tensor "model.norm.weight" \(expected shape \[32\]\) is missing/,
    );
    const wrong = m
      .checkpointTensors()
      .map((t) =>
        t.name === "model.norm.weight" ? { ...t, shape: [16, 2], data: new Float32Array(32) } : t,
      );
    await writeCheckpoint(p, wrong);
    await expect(loadModel(p)).rejects.toThrow(
      /tensor "model.norm.weight" has shape \[16, 2\], expected \[32\]/,
    );
    m.dispose();
  });
});
