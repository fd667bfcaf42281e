// Linear hooks compose as y = f(x, base): a DoRA-style piece (test-only) over an NF4 base, which the old
// hooks (an added output, or a replaced base matmul, each from one piece) could not express.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { nf4Base } from "../model/adapters/nf4-base.ts";
import { combineHooks, type Piece } from "../model/adapters/piece.ts";
import { initBackend } from "../model/backend.ts";
import { linearModules } from "../model/config.ts";
import { type Model, randomModel } from "../model/llama.ts";
import { tinyConfig } from "../model/tiny.ts";
import { lossAndGrads } from "../model/train-step.ts";

beforeAll(async () => {
  await initBackend();
});

const cfg = tinyConfig("qwen2", { hiddenSize: 64, intermediateSize: 128, numHeads: 8, numKvHeads: 2 });
const targets = new Set(["q_proj", "v_proj"]);
const scale = 0.5;
const rank = 2;

/** Deterministic values in [-r, r). */
function values(n: number, seed: number, r: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 * r - r;
  }
  return out;
}

interface DoraFactors {
  /** HF-layout [out, in] base weight the piece sits on (here: the NF4 base, dequantized). */
  w: Float32Array;
  a: Float32Array; // [in, r]
  b: Float32Array; // [r, out]
  magnitude: Float32Array; // [out]
  inF: number;
  outF: number;
}

/** Row norms of W + scale * (A B)^T, [out] (HF layout: a norm per output over the inputs). */
function rowNorms(f: DoraFactors): Float32Array {
  const norms = new Float32Array(f.outF);
  for (let o = 0; o < f.outF; o++) {
    let ss = 0;
    for (let i = 0; i < f.inF; i++) {
      let d = 0;
      for (let k = 0; k < rank; k++) d += f.a[i * rank + k]! * f.b[k * f.outF + o]!;
      const v = f.w[o * f.inF + i]! + scale * d;
      ss += v * v;
    }
    norms[o] = Math.sqrt(ss);
  }
  return norms;
}

/**
 * DoRA's magnitude-rescaled sum: y = m / ||W + sBA||_row * (base(x) - b + s x A B) + b, over whatever `base`
 * is beneath (the norm taken, detached as PEFT does, of the weight that base stands for).
 */
function doraPiece(factors: Map<string, DoraFactors>): Piece {
  const vars = new Map<string, { a: tf.Variable; b: tf.Variable; m: tf.Variable; inv: tf.Tensor1D }>();
  for (const [key, f] of factors) {
    vars.set(key, {
      a: tf.variable(tf.tensor2d(f.a, [f.inF, rank]), true, `dora-${key}-a`),
      b: tf.variable(tf.tensor2d(f.b, [rank, f.outF]), true, `dora-${key}-b`),
      m: tf.variable(tf.tensor1d(f.magnitude), true, `dora-${key}-m`),
      inv: tf.tensor1d(rowNorms(f).map((n) => 1 / n)),
    });
  }
  return {
    trainable: [...vars].flatMap(([k, v]) => [
      [`${k}.a`, v.a],
      [`${k}.b`, v.b],
      [`${k}.m`, v.m],
    ]) as [string, tf.Variable][],
    hooks: () => ({
      linear: (x, base, site) => {
        const v = vars.get(`${site.layer}/${site.module}`);
        if (!v) return base(x);
        const y = base(x);
        const noBias = site.bias ? tf.sub(y, site.bias) : y;
        const delta = tf.mul(tf.matMul(tf.matMul(x, v.a), v.b), scale);
        const rescaled = tf.mul(tf.add(noBias, delta), tf.mul(v.m, v.inv)) as tf.Tensor2D;
        return site.bias ? (tf.add(rescaled, site.bias) as tf.Tensor2D) : rescaled;
      },
    }),
    dispose() {
      for (const v of vars.values()) tf.dispose([v.a, v.b, v.m, v.inv]);
    },
  };
}

/** The merged weight DoRA stands for, HF layout: diag(m / ||W + sBA||) (W + s (A B)^T). */
function mergedWeight(f: DoraFactors): Float32Array {
  const norms = rowNorms(f);
  const out = new Float32Array(f.outF * f.inF);
  for (let o = 0; o < f.outF; o++)
    for (let i = 0; i < f.inF; i++) {
      let d = 0;
      for (let k = 0; k < rank; k++) d += f.a[i * rank + k]! * f.b[k * f.outF + o]!;
      out[o * f.inF + i] = (f.magnitude[o]! / norms[o]!) * (f.w[o * f.inF + i]! + scale * d);
    }
  return out;
}

/** Replaces a linear's stored [in, out] weight with an HF-layout [out, in] one. */
function setWeight(model: Model, name: string, hf: Float32Array, outF: number, inF: number): void {
  const t = tf.tidy(() => tf.transpose(tf.tensor2d(hf, [outF, inF])));
  model.weights.get(name)!.assign(t);
  t.dispose();
}

const batch = { batch: 2, seqLen: 5, ids: Int32Array.from([1, 5, 11, 7, 12, 9, 3, 4, 8, 10]) };

describe("composed linear hooks (y = f(x, base))", () => {
  it("DoRA over an NF4 base matches the merged reference weights, and its factors get gradients", async () => {
    const model = randomModel(cfg, { seed: 3 });
    const reference = randomModel(cfg, { seed: 3 });
    const nf4 = nf4Base(model, { blockSize: 64, doubleQuant: true });
    const factors = new Map<string, DoraFactors>();
    for (let l = 0; l < cfg.numLayers; l++)
      for (const mod of linearModules(cfg)) {
        const w = nf4.dequantized(l, mod.name);
        const name = `model.layers.${l}.${mod.path}.weight`;
        if (!targets.has(mod.name)) {
          setWeight(reference, name, w, mod.outFeatures, mod.inFeatures);
          continue;
        }
        const f: DoraFactors = {
          w,
          a: values(mod.inFeatures * rank, 10 * l + 1, 0.2),
          b: values(rank * mod.outFeatures, 10 * l + 2, 0.2),
          magnitude: new Float32Array(mod.outFeatures),
          inF: mod.inFeatures,
          outF: mod.outFeatures,
        };
        // A magnitude away from the norms, so the rescaling shows.
        const norms = rowNorms(f);
        const jitter = values(mod.outFeatures, 10 * l + 3, 0.5);
        for (let o = 0; o < mod.outFeatures; o++) f.magnitude[o] = norms[o]! * (1 + jitter[o]!);
        factors.set(`${l}/${mod.name}`, f);
        setWeight(reference, name, mergedWeight(f), mod.outFeatures, mod.inFeatures);
      }
    const dora = doraPiece(factors);
    // The NF4 base first: DoRA rescales whatever the quantized base computes.
    const hooks = combineHooks([nf4.hooks(true, 0), dora.hooks(true, 0)]);

    const got = tf.tidy(() => model.logitsTensor(batch, { hooks }));
    const want = tf.tidy(() => reference.logitsTensor(batch));
    const [g, w] = [(await got.data()) as Float32Array, (await want.data()) as Float32Array];
    tf.dispose([got, want]);
    let worst = 0;
    let size = 0;
    for (let i = 0; i < g.length; i++) {
      worst = Math.max(worst, Math.abs(g[i]! - w[i]!));
      size = Math.max(size, Math.abs(w[i]!));
    }
    expect(size).toBeGreaterThan(0.01);
    expect(worst).toBeLessThan(1e-4 * Math.max(1, size));
    // Without the rescaling the outputs differ: the reference really is the DoRA one.
    const plain = tf.tidy(() => model.logitsTensor(batch, { hooks: nf4.hooks(false, 0) }));
    const p = (await plain.data()) as Float32Array;
    plain.dispose();
    expect(Math.max(...p.map((v, i) => Math.abs(v - w[i]!)))).toBeGreaterThan(1e-3);

    const labels = Int32Array.from(batch.ids);
    const vars = dora.trainable.map(([, v]) => v);
    const r = await lossAndGrads(model, { batch, labels }, vars, { hooks });
    expect(r.grads).toHaveLength(vars.length);
    for (const gr of r.grads)
      expect(Math.max(...((await gr.data()) as Float32Array).map(Math.abs))).toBeGreaterThan(0);
    tf.dispose(r.grads);
    dora.dispose();
    nf4.dispose();
    model.dispose();
    reference.dispose();
  });

  it("composes linear hooks in order and still refuses two pieces setting another hook", () => {
    const calls: string[] = [];
    const piece = (tag: string) => ({
      linear: (x: tf.Tensor2D, base: (x: tf.Tensor2D) => tf.Tensor2D) => {
        calls.push(`${tag}>`);
        const y = base(x);
        calls.push(`<${tag}`);
        return y;
      },
    });
    const hooks = combineHooks([piece("inner"), piece("outer")]);
    const x = tf.zeros([1, 2]) as tf.Tensor2D;
    const site = { layer: 0, module: "q_proj" as const, bias: null, add: (a: tf.Tensor2D) => a };
    hooks.linear!(
      x,
      (xi) => {
        calls.push("stored");
        return xi;
      },
      site,
    );
    x.dispose();
    expect(calls).toEqual(["outer>", "inner>", "stored", "<inner", "<outer"]);
    const prefix = () => null;
    expect(() => combineHooks([{ prefix }, { prefix }])).toThrow(/both set the "prefix" hook/);
  });
});
