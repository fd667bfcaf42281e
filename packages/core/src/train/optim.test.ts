import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { IGNORE_INDEX, type TokenizedSample } from "../data/types.ts";
import { learningRateRatio } from "../engines/learning-rate-groups.ts";
import { AdamW } from "../engines/tfjs/adamw.ts";
import { finishGradients, globalNorm } from "../engines/tfjs/grads.ts";
import { stepGradients } from "../engines/tfjs/step.ts";
import { initBackend } from "../model/backend.ts";
import { loadModel, type Model } from "../model/llama.ts";
import { withoutNative } from "../model/native/load.ts";
import { lossAndGrads } from "../model/train-step.ts";
import { fillBatch } from "./batches.ts";
import { storiesDir } from "./fixtures.testing.ts";
import { learningRateAt } from "./schedule.ts";

beforeAll(async () => {
  await initBackend();
});

describe("learning-rate schedule", () => {
  const spec = { warmupSteps: 4, totalSteps: 14, minLearningRateRatio: 0 };
  it("warms up linearly and ends warmup on the peak", () => {
    const lrs = [0, 1, 2, 3].map((s) => learningRateAt(s, 1, { ...spec, kind: "cosine" }));
    expect(lrs).toEqual([0.25, 0.5, 0.75, 1]);
  });
  it("cosine: peak after warmup, half way at the middle, towards the floor at the end", () => {
    const lr = (s: number, floor = 0) =>
      learningRateAt(s, 2, { ...spec, kind: "cosine", minLearningRateRatio: floor });
    expect(lr(4)).toBeCloseTo(2, 12);
    expect(lr(9)).toBeCloseTo(1, 12);
    expect(lr(13)).toBeCloseTo(2 * 0.5 * (1 + Math.cos(Math.PI * 0.9)), 12);
    expect(lr(14)).toBeCloseTo(0, 12);
    expect(lr(9, 0.1)).toBeCloseTo(0.2 + 1.8 * 0.5, 12);
    expect(lr(100, 0.1)).toBeCloseTo(0.2, 12);
  });
  it("linear and constant", () => {
    expect(learningRateAt(9, 1, { ...spec, kind: "linear" })).toBeCloseTo(0.5, 12);
    expect(learningRateAt(9, 1, { ...spec, kind: "linear", minLearningRateRatio: 0.2 })).toBeCloseTo(0.6, 12);
    expect(learningRateAt(13, 1, { ...spec, kind: "constant" })).toBe(1);
    expect(learningRateAt(0, 1, { ...spec, kind: "constant", warmupSteps: 0 })).toBe(1);
  });
});

describe("AdamW", () => {
  // The native tier's fused update where it is built, and the tfjs ops always.
  const paths = [
    { name: "active backend (native tier where built)", run: <T>(f: () => T) => f() },
    { name: "tfjs ops", run: withoutNative },
  ];
  it.each(paths)(
    "matches torch.optim.AdamW's update, with decay only where the method says ($name)",
    async ({ run }) => {
      const w0 = [0.5, -1.5, 2];
      const n0 = [1, 1, 1];
      const params = new Map([
        ["w", tf.variable(tf.tensor1d(w0))],
        ["norm.weight", tf.variable(tf.tensor1d(n0))],
      ]);
      const opt = new AdamW(params, {
        betas: [0.9, 0.99],
        eps: 1e-8,
        weightDecay: 0.1,
        decays: (n) => n === "w",
      });
      const gradsAt = (t: number) => [0.3 * t, -0.2, 0.05 * t * t];
      // Reference: torch.optim.AdamW, written out in plain JS.
      const ref = { w: [...w0], n: [...n0], m: [0, 0, 0, 0, 0, 0], v: [0, 0, 0, 0, 0, 0] };
      for (let t = 1; t <= 3; t++) {
        const g = gradsAt(t);
        const lr = 0.01 * t;
        for (const [key, off, decay] of [
          ["w", 0, true],
          ["n", 3, false],
        ] as const) {
          for (let i = 0; i < 3; i++) {
            const p = ref[key];
            if (decay) p[i] = p[i]! * (1 - lr * 0.1);
            ref.m[off + i] = 0.9 * ref.m[off + i]! + 0.1 * g[i]!;
            ref.v[off + i] = 0.99 * ref.v[off + i]! + 0.01 * g[i]! ** 2;
            const mh = ref.m[off + i]! / (1 - 0.9 ** t);
            const vh = ref.v[off + i]! / (1 - 0.99 ** t);
            p[i] = p[i]! - (lr * mh) / (Math.sqrt(vh) + 1e-8);
          }
        }
        const gt = tf.tensor1d(g);
        run(() =>
          opt.update(
            new Map([
              ["w", gt],
              ["norm.weight", gt],
            ]),
            lr,
          ),
        );
        gt.dispose();
      }
      const got = [...(await params.get("w")!.data()), ...(await params.get("norm.weight")!.data())];
      for (const [i, x] of [...ref.w, ...ref.n].entries()) expect(got[i]).toBeCloseTo(x, 5);
      const state = await opt.state();
      expect(state.step).toBe(3);
      expect(Array.from(state.m.get("w")!)[0]).toBeCloseTo(ref.m[0]!, 6);
      opt.dispose();
      for (const v of params.values()) v.dispose();
    },
  );
});

describe("learning-rate groups (LoRA+)", () => {
  it("each tensor steps at the base rate times its plan group's ratio: lora_B and DoRA magnitudes ×16, A ×1", async () => {
    // As the plan has them for a LoRA recipe with loraPlusRatio: 16 (compile/plan.test.ts checks that).
    const groups = [
      { name: "LoRA+", pattern: "\\.lora_(B|magnitude_vector)$", learningRateRatio: 16, learningRate: 0.16 },
    ];
    const ratio = learningRateRatio({ optimizer: { groups } } as never);
    const pre = "model.layers.0.self_attn.q_proj";
    const names = [`${pre}.lora_A`, `${pre}.lora_B`, `${pre}.lora_magnitude_vector`];
    expect(names.map(ratio)).toEqual([1, 16, 16]);
    const w0 = [0.5, -1.5];
    const g = [0.3, -0.2];
    const params = new Map(names.map((n) => [n, tf.variable(tf.tensor1d(w0))]));
    const opt = new AdamW(params, {
      betas: [0.9, 0.99],
      eps: 1e-8,
      weightDecay: 0.1,
      decays: () => true,
      learningRateRatio: ratio,
    });
    const gt = tf.tensor1d(g);
    opt.update(new Map(names.map((n) => [n, gt])), 0.01);
    gt.dispose();
    for (const [n, lr] of [
      [names[0]!, 0.01],
      [names[1]!, 0.16],
      [names[2]!, 0.16],
    ] as const) {
      // torch.optim.AdamW's first step with the group's lr: decay, then lr · ĝ / (|ĝ| + eps).
      const want = w0.map((w, i) => w * (1 - lr * 0.1) - (lr * g[i]!) / (Math.abs(g[i]!) + 1e-8));
      const got = await params.get(n)!.data();
      for (const [i, x] of want.entries()) expect(got[i]).toBeCloseTo(x, 6);
    }
    opt.dispose();
    for (const v of params.values()) v.dispose();
  });
});

describe("gradient averaging and clipping", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(storiesDir);
  });

  const sample = (ids: number[], trainedFrom: number): TokenizedSample => ({
    inputIds: ids,
    labels: ids.map((t, i) => (i >= trainedFrom ? t : IGNORE_INDEX)),
    source: "t",
    origin: { file: "t", index: 0 },
  });
  const seq = (n: number, seed: number) =>
    Array.from({ length: n }, (_, i) => 1 + ((i * 37 + seed * 11) % 500));
  // Micro-batches with very different trained-token counts: a mean of means would differ.
  const a = [sample(seq(30, 1), 2), sample(seq(12, 2), 10)];
  const b = [sample(seq(20, 3), 18)];
  const rowsOf = (xs: TokenizedSample[]) => xs.map((s) => [{ sample: s, start: 0 }]);
  const longest = (xs: TokenizedSample[]) => Math.max(...xs.map((s) => s.inputIds.length));

  it("accumulated micro-batches give the loss and gradients of one batch holding them all", async () => {
    const vars = model.parameters().map(([, v]) => v);
    const acc = await stepGradients(
      model,
      vars,
      [fillBatch(rowsOf(a), longest(a), 0), fillBatch(rowsOf(b), longest(b), 0)],
      {
        forward: () => ({}),
        clipNorm: 0,
      },
    );
    const all = [...a, ...b];
    const one = fillBatch(rowsOf(all), longest(all), 0);
    const r = await lossAndGrads(model, { batch: one.batch, labels: one.labels }, vars);
    expect(acc.trainedTokens).toBe(r.tokens);
    expect(acc.loss).toBeCloseTo(r.loss / r.tokens, 5);
    for (let i = 0; i < vars.length; i++) {
      // Float32 sums in another order (BLAS, fused kernels): relative to the gradient's size.
      const [d, scale] = tf.tidy(() => {
        const want = tf.div(r.grads[i]!, r.tokens);
        return [tf.max(tf.abs(tf.sub(acc.grads[i]!, want))), tf.max(tf.abs(want))];
      });
      expect((await d!.data())[0]).toBeLessThan(1e-6 + 1e-5 * (await scale!.data())[0]!);
      tf.dispose([d!, scale!]);
    }
    // Not the mean of per-batch means.
    const la = await stepGradients(model, vars, [fillBatch(rowsOf(a), longest(a), 0)], {
      forward: () => ({}),
      clipNorm: 0,
    });
    const lb = await stepGradients(model, vars, [fillBatch(rowsOf(b), longest(b), 0)], {
      forward: () => ({}),
      clipNorm: 0,
    });
    expect(Math.abs((la.loss + lb.loss) / 2 - acc.loss)).toBeGreaterThan(1e-3);
    tf.dispose([...acc.grads, ...r.grads, ...la.grads, ...lb.grads]);
  });

  it("a packed row (samples one after another) gives the loss of the same samples in padded rows", async () => {
    const vars = model.parameters().map(([, v]) => v);
    const packed = fillBatch(
      [
        [
          { sample: a[0]!, start: 0 },
          { sample: b[0]!, start: 30 },
        ],
      ],
      50,
      0,
    );
    const padded = fillBatch(rowsOf([a[0]!, b[0]!]), 30, 0);
    expect(packed.batch.segments!.slice(28, 32)).toEqual(Int32Array.from([1, 1, 2, 2]));
    expect(packed.trainedTokens).toBe(padded.trainedTokens);
    const p = await stepGradients(model, vars, [packed], { forward: () => ({}), clipNorm: 0 });
    const q = await stepGradients(model, vars, [padded], { forward: () => ({}), clipNorm: 0 });
    expect(p.loss).toBeCloseTo(q.loss, 5);
    tf.dispose([...p.grads, ...q.grads]);
  });

  it("clips the global norm (0 = off) and reports it before clipping", async () => {
    const g = () => [tf.tensor1d([3, 0]), tf.tensor2d([[0, 4]])];
    const off = await finishGradients(g(), 1, 0);
    expect(off.norm).toBeCloseTo(5, 6);
    expect(await globalNorm(off.grads)).toBeCloseTo(5, 5);
    const clipped = await finishGradients(g(), 2, 1);
    expect(clipped.norm).toBeCloseTo(2.5, 6);
    expect(await globalNorm(clipped.grads)).toBeCloseTo(1, 5);
    expect(Array.from(await clipped.grads[0]!.data())[0]).toBeCloseTo(0.6, 5);
    const under = await finishGradients(g(), 10, 1);
    expect(await globalNorm(under.grads)).toBeCloseTo(0.5, 5);
    tf.dispose([...off.grads, ...clipped.grads, ...under.grads]);
  });
});
