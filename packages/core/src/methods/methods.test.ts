import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { prefixKV } from "../model/adapters/prefix.ts";
import { initBackend } from "../model/backend.ts";
import { type Model, randomModel } from "../model/llama.ts";
import { tinyConfig } from "../model/tiny.ts";
import { lossAndGrads, sgdUpdate } from "../model/train-step.ts";
import { buildMethodRuntime, type MethodRuntimeWithParts } from "./runtime.ts";
import { newToken, testPlan } from "./testing.ts";
import { growVocabulary } from "./vocab.ts";

beforeAll(async () => {
  await initBackend();
});

// With the two added tokens (ids 61, 62) where a test adds them, plain ids otherwise.
let ids = Int32Array.from([1, 5, 11, 7, 12, 9, 3, 4, 8, 11, 10, 2]);
let batch = { batch: 2, seqLen: 6, ids };
const useNewTokens = (on: boolean) => {
  ids = Int32Array.from([1, 5, on ? 61 : 11, 7, on ? 62 : 12, 9, 3, 4, 8, on ? 61 : 11, 10, 2]);
  batch = { batch: 2, seqLen: 6, ids };
};
const added = [newToken("<a>", 61), newToken("<b>", 62)];

async function logits(
  m: Model,
  rt?: MethodRuntimeWithParts,
  training = false,
  seed = 0,
): Promise<Float32Array> {
  const t = m.logitsTensor(batch, { hooks: rt?.forward(training, seed).hooks });
  const d = (await t.data()) as Float32Array;
  t.dispose();
  return d;
}

async function steps(m: Model, rt: MethodRuntimeWithParts, n: number, lr = 0.05): Promise<number[]> {
  const vars = [...rt.trainable.values()];
  const losses: number[] = [];
  for (let s = 0; s < n; s++) {
    const r = await lossAndGrads(m, { batch, labels: ids }, vars, { hooks: rt.forward(true, s).hooks });
    losses.push(r.loss / r.tokens);
    sgdUpdate(vars, r.grads, lr);
    for (const g of r.grads) g.dispose();
    rt.afterStep?.();
  }
  return losses;
}

const maxDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
const numel = (rt: MethodRuntimeWithParts) => [...rt.trainable.values()].reduce((a, v) => a + v.size, 0);

describe("vocabulary growth", () => {
  it("grows tied and untied tables; mean, noise (seeded) and describe inits", async () => {
    for (const arch of ["llama", "qwen2"] as const) {
      const cfg = tinyConfig(arch);
      const m = randomModel(cfg, { seed: 2 });
      const E0 = (await m.w("model.embed_tokens.weight").data()) as Float32Array;
      const plan = testPlan(
        cfg,
        { kind: "full" },
        {
          added: [
            newToken("<m>", 61),
            newToken("<n>", 62, "noise"),
            { ...newToken("<d>", 63, "describe"), description: "xy" },
          ],
        },
      );
      await growVocabulary(m, plan, { encode: () => [3, 4] });
      useNewTokens(true);
      expect(m.config.vocabSize).toBe(64);
      const E = (await m.w("model.embed_tokens.weight").data()) as Float32Array;
      expect(E.subarray(0, 61 * 32)).toEqual(E0);
      const d = 32;
      const mean = Array.from({ length: d }, (_, j) => {
        let s = 0;
        for (let r = 0; r < 61; r++) s += E0[r * d + j]!;
        return s / 61;
      });
      for (let j = 0; j < d; j++) {
        expect(E[61 * d + j]).toBeCloseTo(mean[j]!, 6);
        expect(E[63 * d + j]).toBeCloseTo((E0[3 * d + j]! + E0[4 * d + j]!) / 2, 6);
      }
      const noise = Array.from({ length: d }, (_, j) => E[62 * d + j]! - mean[j]!);
      const std = Math.sqrt(noise.reduce((a, x) => a + x * x, 0) / d);
      expect(std).toBeGreaterThan(0.3 / Math.sqrt(d));
      expect(std).toBeLessThan(3 / Math.sqrt(d));
      if (arch === "qwen2") expect(m.w("lm_head.weight").shape).toEqual([32, 64]);
      const logitsShape = m.logitsTensor(batch);
      expect(logitsShape.shape).toEqual([12, 64]);
      logitsShape.dispose();
      useNewTokens(false);
      m.dispose();
    }
  });
});

describe("LoRA", () => {
  it("starts as the base model (B = 0), A ~ U(-1/sqrt(in), 1/sqrt(in)); scale alpha/r or alpha/sqrt(r)", async () => {
    const cfg = tinyConfig("qwen2");
    const m = randomModel(cfg, { seed: 3 });
    const base = await logits(m);
    const rt = buildMethodRuntime(
      m,
      testPlan(cfg, { kind: "lora", rank: 4, alpha: 8, targets: "all-linear" }),
      1,
    );
    expect(rt.parts.lora!.scale).toBe(2);
    expect(maxDiff(await logits(m, rt, true, 3), base)).toBe(0);
    for (const p of rt.parts.lora!.pairs) {
      const a = (await p.a.data()) as Float32Array;
      const bound = 1 / Math.sqrt(p.module.inFeatures);
      expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(bound * 0.8);
      expect(Math.max(...((await p.b.data()) as Float32Array).map(Math.abs))).toBe(0);
    }
    rt.dispose();
    const rs = buildMethodRuntime(m, testPlan(cfg, { kind: "lora", rank: 4, alpha: 8, rslora: true }), 1);
    expect(rs.parts.lora!.scale).toBe(4);
    expect(rs.parts.lora!.targets).toEqual(["q_proj", "k_proj", "v_proj", "o_proj"]);
    rs.dispose();
    m.dispose();
  });

  it("trains only adapters; dropout is seeded and off outside training; loss falls", async () => {
    const cfg = tinyConfig("llama");
    const m = randomModel(cfg, { seed: 4 });
    const W0 = (await m.w("model.layers.0.self_attn.q_proj.weight").data()).slice();
    const rt = buildMethodRuntime(m, testPlan(cfg, { kind: "lora", rank: 4, dropout: 0.5 }), 1);
    const losses = await steps(m, rt, 6);
    expect(losses[5]!).toBeLessThan(losses[0]!);
    expect(await m.w("model.layers.0.self_attn.q_proj.weight").data()).toEqual(W0);
    const [a, b, c, e] = [
      await logits(m, rt, true, 7),
      await logits(m, rt, true, 7),
      await logits(m, rt, true, 8),
      await logits(m, rt, false, 7),
    ];
    expect(maxDiff(a, b)).toBe(0);
    expect(maxDiff(a, c)).toBeGreaterThan(0);
    expect(maxDiff(e, await logits(m, rt, false, 9))).toBe(0);
    rt.dispose();
    m.dispose();
  });

  it("fused dropout + A: same values and gradients as masking then matMul", async () => {
    const { dropoutLinear, dropoutMaskValues } = await import("../model/adapters/lora.ts");
    const x = tf.randomNormal([9, 6], 0, 1, "float32", 1) as tf.Tensor2D;
    const a = tf.randomNormal([6, 3], 0, 1, "float32", 2) as tf.Tensor2D;
    const dy = tf.randomNormal([9, 3], 0, 1, "float32", 3);
    const fused = tf.grads((xx, aa) =>
      tf.mul(dropoutLinear(xx as tf.Tensor2D, aa as tf.Tensor2D, 0.4, 77), dy),
    );
    const mask = tf.tensor2d(dropoutMaskValues(54, 0.4, 77), [9, 6]);
    const plain = tf.grads((xx, aa) => tf.mul(tf.matMul(tf.mul(xx, mask), aa as tf.Tensor2D), dy));
    const [g1, g2] = [fused([x, a]), plain([x, a])];
    for (let i = 0; i < 2; i++)
      expect(
        maxDiff((await g1[i]!.data()) as Float32Array, (await g2[i]!.data()) as Float32Array),
      ).toBeLessThan(1e-5);
    const zeros = ((await g1[0]!.data()) as Float32Array).filter((v) => v === 0).length;
    expect(zeros).toBeGreaterThan(5); // some inputs were dropped
    tf.dispose([x, a, dy, mask, ...g1, ...g2]);
  });

  for (const method of [
    { kind: "lora", rank: 2, dropout: 0.3 },
    { kind: "lora", rank: 2, dropout: 0.3, dora: true },
    { kind: "qlora", rank: 2, dropout: 0.3, targets: ["q_proj", "down_proj"] },
    { kind: "qlora", rank: 2, dropout: 0.3, targets: ["q_proj", "down_proj"], dora: true },
    { kind: "prefix", virtualTokens: 2, reparameterize: { hiddenSize: 4 } },
  ]) {
    it(`${method.kind}${"dora" in method ? " (DoRA)" : ""}: same gradients with gradient checkpointing (dropout masks replay)`, async () => {
      const grads = async (recompute: boolean) => {
        const cfg = tinyConfig("llama");
        const m = randomModel(cfg, { seed: 5 });
        const rt = buildMethodRuntime(m, testPlan(cfg, method, { recompute }), 1);
        await steps(m, rt, 1); // LoRA's B non-zero
        const vars = [...rt.trainable.values()];
        const f = rt.forward(true, 11);
        expect(f.recompute).toBe(recompute);
        const r = await lossAndGrads(m, { batch, labels: ids }, vars, f);
        const out = await Promise.all(r.grads.map(async (g) => (await g.data()) as Float32Array));
        rt.dispose();
        m.dispose();
        return out;
      };
      const plain = await grads(false);
      const rec = await grads(true);
      expect(plain.some((g) => g.some((x) => x !== 0))).toBe(true);
      for (const [i, g] of plain.entries()) expect(maxDiff(g, rec[i]!)).toBeLessThan(1e-4);
    });
  }
});

describe("trainable token rows (frozen method, PEFT trainable tokens)", () => {
  const cases: ["llama" | "qwen2", true | string[], number[]][] = [
    ["llama", true, [61, 62]],
    ["qwen2", true, [61, 62]],
    // One row that is not at the end of the table: the scatter path.
    ["llama", ["<a>"], [61]],
    ["qwen2", ["<a>"], [61]],
  ];
  for (const [arch, newTokens, trained] of cases) {
    it(`${arch}, ${JSON.stringify(newTokens)}: only those rows change; every other row stays bit-exact`, async () => {
      useNewTokens(true);
      const cfg = tinyConfig(arch);
      const m = randomModel(cfg, { seed: 6 });
      const plan = testPlan(cfg, { kind: "frozen", trainable: { newTokens } }, { added });
      const rt = buildMethodRuntime(m, plan, 1);
      expect([...rt.trainable.keys()]).toEqual(
        arch === "llama"
          ? ["model.embed_tokens.trainable_tokens"]
          : ["model.embed_tokens.trainable_tokens", "lm_head.trainable_tokens"],
      );
      expect(numel(rt)).toBe(trained.length * 32 * (arch === "llama" ? 1 : 2));
      const { mergedTensors } = await import("./save.ts");
      const snapshot = async () => {
        const out = new Map<string, Float32Array>();
        for (const t of mergedTensors(m, rt.parts))
          out.set(t.name, await (t.data as () => Promise<Float32Array>)());
        return out;
      };
      const before = await snapshot();
      const losses = await steps(m, rt, 5, 0.05);
      useNewTokens(false);
      expect(losses[4]!).toBeLessThan(losses[0]!);
      const after = await snapshot();
      const d = 32;
      for (const [name, b] of before) {
        const a = after.get(name)!;
        if (name !== "model.embed_tokens.weight" && name !== "lm_head.weight") {
          expect(a).toEqual(b);
          continue;
        }
        for (let r = 0; r < 63; r++) {
          const ra = a.subarray(r * d, (r + 1) * d);
          const rb = b.subarray(r * d, (r + 1) * d);
          // Bit-exact: compare the bytes, not the values.
          if (!trained.includes(r))
            expect(new Uint32Array(ra.buffer, ra.byteOffset, d)).toEqual(
              new Uint32Array(rb.buffer, rb.byteOffset, d),
            );
          else expect(maxDiff(ra, rb)).toBeGreaterThan(0);
        }
      }
      rt.dispose();
      m.dispose();
    });
  }

  for (const arch of ["llama", "qwen2"] as const) {
    it(`${arch}: row gradients equal those rows of the full table's gradient (lookup + logits)`, async () => {
      useNewTokens(true);
      const grad = async (kind: "full" | "frozen") => {
        const cfg = tinyConfig(arch);
        const m = randomModel(cfg, { seed: 13 });
        const rt = buildMethodRuntime(m, testPlan(cfg, { kind }, { added }), 1);
        const names = ["model.embed_tokens.weight", "lm_head.weight"];
        const vars = [...rt.trainable.entries()];
        const r = await lossAndGrads(
          m,
          { batch, labels: ids },
          vars.map(([, v]) => v),
          rt.forward(true, 0),
        );
        const out = new Map<string, Float32Array>();
        for (const [i, [name]] of vars.entries()) {
          let g = r.grads[i]!;
          // Full: rows 61, 62 of the [V, d] gradient (lm_head's is stored [d, V]).
          if (kind === "full" && names.includes(name)) {
            const rows = name === "lm_head.weight" ? tf.transpose(g) : g;
            g = tf.slice(rows, [61, 0], [2, 32]);
          }
          if (kind === "full" && !names.includes(name)) continue;
          out.set(name.replace("trainable_tokens", "weight"), (await g.data()) as Float32Array);
        }
        rt.dispose();
        m.dispose();
        return out;
      };
      const full = await grad("full");
      const rows = await grad("frozen");
      useNewTokens(false);
      expect([...rows.keys()].sort()).toEqual([...full.keys()].sort());
      for (const [name, g] of rows) expect(maxDiff(g, full.get(name)!)).toBeLessThan(1e-4);
      expect(Math.max(...[...rows.values()][0]!.map(Math.abs))).toBeGreaterThan(0);
    });
  }

  it("trains only the named new tokens", async () => {
    const cfg = tinyConfig("llama");
    const m = randomModel(cfg, { seed: 6 });
    const rt = buildMethodRuntime(
      m,
      testPlan(cfg, { kind: "frozen", trainable: { newTokens: ["<b>"], norms: true } }, { added }),
      1,
    );
    expect(rt.parts.rows!.ids).toEqual([62]);
    expect(rt.decays("model.norm.weight")).toBe(false);
    expect(rt.decays("model.embed_tokens.trainable_tokens")).toBe(true);
    rt.dispose();
    expect(() =>
      buildMethodRuntime(
        m,
        testPlan(cfg, { kind: "frozen", trainable: { newTokens: ["<zz>"] } }, { added }),
        1,
      ),
    ).toThrow(/"<zz>" is not one of the added tokens/);
    m.dispose();
  });
});

describe("DoRA", () => {
  for (const kind of ["lora", "qlora"] as const) {
    it(`${kind}: starts as the base model with m = ‖W‖ per output row; trains m, A and B only; loss falls`, async () => {
      const cfg = tinyConfig("qwen2");
      const m = randomModel(cfg, { seed: 3 });
      const W0 = (await m.w("model.layers.0.mlp.down_proj.weight").data()).slice();
      const rt = buildMethodRuntime(
        m,
        testPlan(cfg, { kind, rank: 4, targets: "all-linear", dora: true }),
        1,
      );
      const pairs = rt.parts.lora!.pairs;
      expect(pairs.every((p) => p.magnitude !== null)).toBe(true);
      for (const p of pairs.filter((q) => q.layer === 0 && q.module.name === "down_proj")) {
        // HF [out, in] rows are the stored [in, out] columns.
        const W = rt.parts.nf4 ? rt.parts.nf4.dequantized(0, "down_proj") : null;
        const { inFeatures: inF, outFeatures: outF } = p.module;
        const mag = (await p.magnitude!.data()) as Float32Array;
        for (let o = 0; o < outF; o++) {
          let s2 = 0;
          for (let i = 0; i < inF; i++) s2 += (W ? W[o * inF + i]! : W0[i * outF + o]!) ** 2;
          expect(Math.abs(mag[o]! - Math.sqrt(s2))).toBeLessThan(1e-5);
        }
      }
      // At step 0 DoRA is the model beneath: the float32 base, or QLoRA's NF4 one (plain LoRA over it, B = 0).
      const start = await logits(m, rt, true, 3);
      const other = randomModel(cfg, { seed: 3 });
      const beneath =
        kind === "qlora" ? buildMethodRuntime(other, testPlan(cfg, { kind, rank: 4 }), 1) : undefined;
      expect(maxDiff(start, await logits(other, beneath))).toBeLessThan(1e-5);
      beneath?.dispose();
      other.dispose();
      const names = [...rt.trainable.keys()];
      expect(names.filter((n) => n.endsWith(".lora_magnitude_vector"))).toHaveLength(7 * cfg.numLayers);
      expect(names.every((n) => /\.lora_(A|B|magnitude_vector)$/.test(n))).toBe(true);
      const mag0 = (await pairs[0]!.magnitude!.data()).slice();
      const losses = await steps(m, rt, 6);
      expect(losses[5]!).toBeLessThan(losses[0]!);
      expect(
        maxDiff((await pairs[0]!.magnitude!.data()) as Float32Array, mag0 as Float32Array),
      ).toBeGreaterThan(0);
      if (kind === "lora") expect(await m.w("model.layers.0.mlp.down_proj.weight").data()).toEqual(W0);
      rt.dispose();
      m.dispose();
    });
  }
});

describe("QLoRA", () => {
  it("NF4 base: close to the f32 model at step 0, trains LoRA only, stores ~0.52 bytes per parameter", async () => {
    const cfg = tinyConfig("qwen2", { hiddenSize: 64, intermediateSize: 128, numHeads: 8, numKvHeads: 2 });
    const m = randomModel(cfg, { seed: 8 });
    const base = await logits(m);
    const rt = buildMethodRuntime(m, testPlan(cfg, { kind: "qlora", rank: 4, targets: "all-linear" }), 1);
    expect(m.weights.has("model.layers.0.mlp.up_proj.weight")).toBe(false);
    expect(m.weights.has("model.layers.0.self_attn.q_proj.bias")).toBe(true);
    const q = await logits(m, rt);
    // 4-bit weights move the logits of a random (structureless) model by about the weight error, ~10%.
    const rms = (a: Float32Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length);
    const rel = rms(q.map((x, i) => x - base[i]!)) / rms(base);
    expect(rel).toBeGreaterThan(0);
    expect(rel).toBeLessThan(0.25);
    const { bytes, parameters } = rt.parts.nf4!.storage();
    expect(parameters).toBe(2 * (64 * 64 + 2 * 64 * 16 + 64 * 64 + 3 * 64 * 128));
    expect(bytes / parameters).toBeGreaterThan(0.515);
    expect(bytes / parameters).toBeLessThan(0.53);
    const losses = await steps(m, rt, 5, 0.1);
    expect(losses[4]!).toBeLessThan(losses[0]!);
    expect([...rt.trainable.keys()].every((k) => k.includes("lora_"))).toBe(true);
    rt.dispose();
    m.dispose();
  });
});

describe("QLoRA memory", () => {
  it("holds at most about one float32 linear weight at a time during a training step", async () => {
    const cfg = () =>
      tinyConfig("llama", {
        hiddenSize: 128,
        intermediateSize: 256,
        numHeads: 4,
        numKvHeads: 2,
        headDim: 32,
        numLayers: 4,
      });
    const layerBytes = 4 * (2 * 128 * 128 + 2 * 128 * 64 + 3 * 128 * 256);
    const small = { batch: 1, seqLen: 4, ids: Int32Array.from([1, 2, 3, 4]) };
    const peak = async (kind: "lora" | "qlora") => {
      const c = cfg();
      const m = randomModel(c, { seed: 12 });
      const rt = buildMethodRuntime(m, testPlan(c, { kind, rank: 2, targets: "all-linear", dropout: 0 }), 1);
      const vars = [...rt.trainable.values()];
      const prof = await tf.profile(async () => {
        const r = await lossAndGrads(m, { batch: small, labels: small.ids }, vars, {
          hooks: rt.forward(true, 0).hooks,
        });
        for (const g of r.grads) g.dispose();
      });
      rt.dispose();
      m.dispose();
      return prof.peakBytes;
    };
    const lora = await peak("lora");
    const qlora = await peak("qlora");
    // LoRA keeps 4 layers of float32 linears; QLoRA's peak sits below it by more than 3 of them.
    expect(lora - qlora).toBeGreaterThan(3 * layerBytes);
  });
});

describe("prefix (P-tuning v2)", () => {
  it("lays out keys then values per layer, kv heads then head_dim (PEFT's view/permute)", async () => {
    const P = 3;
    const L = 2;
    const KV = 2;
    const hd = 4;
    const td = KV * hd;
    const table = tf.tensor2d(
      Float32Array.from({ length: P * L * 2 * td }, (_, i) => i),
      [P, L * 2 * td],
    );
    const { key, value } = prefixKV(table, 1, KV, hd);
    expect(key.shape).toEqual([KV, P, hd]);
    const k = (await key.array()) as number[][][];
    const v = (await value.array()) as number[][][];
    for (let h = 0; h < KV; h++)
      for (let p = 0; p < P; p++)
        for (let j = 0; j < hd; j++) {
          expect(k[h]![p]![j]).toBe(p * L * 2 * td + 2 * td + h * hd + j);
          expect(v[h]![p]![j]).toBe(p * L * 2 * td + 3 * td + h * hd + j);
        }
    tf.dispose([table, key, value]);
  });

  for (const reparameterize of [false, { hiddenSize: 16 }] as const) {
    it(`trains with grouped-query attention (${reparameterize ? "MLP" : "direct"}); base weights untouched`, async () => {
      const cfg = tinyConfig("llama");
      const m = randomModel(cfg, { seed: 9 });
      const E0 = (await m.w("model.embed_tokens.weight").data()).slice();
      const rt = buildMethodRuntime(
        m,
        testPlan(cfg, { kind: "prefix", virtualTokens: 4, reparameterize }),
        1,
      );
      const td = cfg.headDim * cfg.numKvHeads;
      const out = cfg.numLayers * 2 * td;
      expect(numel(rt)).toBe(reparameterize ? 4 * td + td * 16 + 16 + 16 * out + out : 4 * out);
      const losses = await steps(m, rt, 6, reparameterize ? 0.05 : 0.5);
      expect(losses[5]!).toBeLessThan(losses[0]!);
      expect(await m.w("model.embed_tokens.weight").data()).toEqual(E0);
      const t = rt.parts.prefix!.table();
      expect(t.shape).toEqual([4, out]);
      t.dispose();
      rt.dispose();
      m.dispose();
    });
  }
});

describe("full and partial", () => {
  it("full trains every tensor; partial trains the planner's selection", async () => {
    const cfg = tinyConfig("qwen2");
    const m = randomModel(cfg, { seed: 10 });
    const full = buildMethodRuntime(m, testPlan(cfg, { kind: "full" }), 1);
    expect(full.trainable.size).toBe(m.weights.size);
    const losses = await steps(m, full, 4, 0.01);
    expect(losses[3]!).toBeLessThan(losses[0]!);
    full.dispose();
    const part = buildMethodRuntime(
      m,
      testPlan(cfg, { kind: "partial", lastLayers: 1, modules: ["norm"] }),
      1,
    );
    const names = [...part.trainable.keys()];
    expect(names.every((n) => n.startsWith("model.layers.1.") || n.endsWith("norm.weight"))).toBe(true);
    expect(names).toContain("model.layers.0.input_layernorm.weight");
    expect(names).toContain("model.layers.1.mlp.down_proj.weight");
    part.dispose();
    m.dispose();
  });
});

describe("no leaked tensors", () => {
  it("building, stepping and disposing each method leaves the tensor count as it was", async () => {
    for (const method of [
      { kind: "full" },
      { kind: "frozen" },
      { kind: "lora", rank: 2 },
      { kind: "qlora", rank: 2 },
      { kind: "lora", rank: 2, dora: true, dropout: 0.2 },
      { kind: "qlora", rank: 2, dora: true },
      { kind: "prefix", virtualTokens: 2, reparameterize: { hiddenSize: 4 } },
    ]) {
      // Growth edits the model's config in place: a fresh one per model.
      const cfg = tinyConfig("qwen2");
      const m = randomModel(cfg, { seed: 1 });
      const plan = testPlan(cfg, method, { added });
      const { growVocabularySync } = await import("./vocab.ts");
      growVocabularySync(m, plan, null);
      const n0 = tf.memory().numTensors;
      const rt = buildMethodRuntime(m, plan, 1);
      useNewTokens(true);
      await steps(m, rt, 1, 0.01);
      useNewTokens(false);
      rt.dispose();
      // QLoRA frees the float32 linears it quantized.
      const freed = method.kind === "qlora" ? 2 * 7 : 0;
      expect(tf.memory().numTensors).toBe(n0 - freed);
      m.dispose();
    }
  });
});
