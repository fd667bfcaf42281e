import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "./backend.ts";
import { packRows, padRows } from "./batch.ts";
import { embedding, fusedCrossEntropy, linear } from "./kernels.ts";
import { type LinearSite, randomModel } from "./llama.ts";
import { referenceLogits } from "./reference-forward.ts";
import { tinyConfig } from "./tiny.ts";
import { lossAndGrads, sgdUpdate, shiftLabels } from "./train-step.ts";

beforeAll(async () => {
  await initBackend();
});

async function close(a: tf.Tensor, b: tf.Tensor, tol = 1e-4): Promise<void> {
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  expect((await d.data())[0]).toBeLessThan(tol);
  d.dispose();
}

describe("kernels: gradients equal the plain formulation", () => {
  it("linear", async () => {
    const x = tf.randomNormal([7, 5], 0, 1, "float32", 1) as tf.Tensor2D;
    const w = tf.randomNormal([5, 3], 0, 1, "float32", 2) as tf.Tensor2D;
    const b = tf.randomNormal([3], 0, 1, "float32", 3) as tf.Tensor1D;
    const dy = tf.randomNormal([7, 3], 0, 1, "float32", 4);
    const mine = tf.grads((xx, ww, bb) =>
      tf.mul(linear(xx as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D), dy),
    );
    const plain = tf.grads((xx, ww, bb) =>
      tf.mul(tf.add(tf.matMul(xx as tf.Tensor2D, ww as tf.Tensor2D), bb), dy),
    );
    const g1 = mine([x, w, b]);
    const g2 = plain([x, w, b]);
    for (let i = 0; i < 3; i++) await close(g1[i]!, g2[i]!);
    const frozen = tf.grad((xx) => tf.mul(linear(xx as tf.Tensor2D, w, null, false), dy))(x);
    await close(frozen, g2[0]!);
    tf.dispose([x, w, b, dy, ...g1, ...g2, frozen]);
  });

  it("embedding: scatter-add gradient with repeated ids", async () => {
    const table = tf.randomNormal([6, 4], 0, 1, "float32", 5) as tf.Tensor2D;
    const idArr = Int32Array.from([1, 3, 1, 0, 1]);
    const ids = tf.tensor1d(idArr, "int32");
    const dy = tf.randomNormal([5, 4], 0, 1, "float32", 6);
    const g = tf.grad((t) => tf.mul(embedding(t as tf.Tensor2D, idArr), dy))(table);
    const viaOneHot = tf.matMul(tf.oneHot(ids, 6), dy, true, false);
    await close(g, viaOneHot);
    tf.dispose([table, ids, dy, g, viaOneHot]);
  });

  it("fused cross-entropy: loss and gradients match full logits, any chunk size", async () => {
    const h = tf.randomNormal([9, 6], 0, 1, "float32", 7) as tf.Tensor2D;
    const wt = tf.randomNormal([6, 11], 0, 1, "float32", 8) as tf.Tensor2D;
    const labels = [3, -100, 0, 10, -100, 5, 5, -100, 1];
    const keep = labels.map((l) => (l === -100 ? 0 : 1));
    const safe = labels.map((l) => Math.max(l, 0));
    const plain = tf.grads((hh, ww) => {
      const logp = tf.logSoftmax(tf.matMul(hh as tf.Tensor2D, ww as tf.Tensor2D));
      const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.tensor1d(safe, "int32"), 11)), 1);
      return tf.neg(tf.sum(tf.mul(picked, tf.tensor1d(keep))));
    });
    const want = plain([h, wt]);
    const wantLoss = tf.tidy(() => {
      const logp = tf.logSoftmax(tf.matMul(h, wt));
      const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.tensor1d(safe, "int32"), 11)), 1);
      return tf.neg(tf.sum(tf.mul(picked, tf.tensor1d(keep))));
    });
    for (const chunkRows of [1, 2, 4, 100]) {
      const f = (hh: tf.Tensor, ww: tf.Tensor) =>
        fusedCrossEntropy(hh as tf.Tensor2D, ww as tf.Tensor2D, labels, { chunkRows });
      const loss = f(h, wt);
      await close(loss, wantLoss);
      const evalLoss = fusedCrossEntropy(h, wt, labels, { chunkRows, grad: false });
      await close(evalLoss, wantLoss);
      evalLoss.dispose();
      const got = tf.grads(f)([h, wt]);
      await close(got[0]!, want[0]!);
      await close(got[1]!, want[1]!);
      tf.dispose([loss, ...got]);
    }
    tf.dispose([h, wt, wantLoss, ...want]);
  });
});

describe("lossAndGrads", () => {
  it("shifts labels within segments only", () => {
    const b = packRows([
      [
        [1, 2, 3],
        [4, 5],
      ],
    ]);
    expect([...shiftLabels(b, [1, 2, 3, 4, 5])]).toEqual([2, 3, -100, 5, -100]);
    const p = padRows([[1, 2], [3]]);
    expect([...shiftLabels(p, [-100, 2, 3, -100])]).toEqual([2, -100, -100, -100]);
  });

  it("loss equals the float64 reference cross-entropy", async () => {
    const cfg = tinyConfig("qwen2");
    const m = randomModel(cfg, { seed: 2, std: 0.2 });
    const ids = [1, 7, 8, 9, 10, 11];
    const labels = Int32Array.from([-100, -100, 8, 9, 10, 11]);
    const r = await lossAndGrads(m, { batch: padRows([ids]), labels }, [m.w("model.norm.weight")]);
    const w = new Map<string, Float32Array>();
    for (const t of m.checkpointTensors())
      w.set(t.name, typeof t.data === "function" ? await t.data() : t.data);
    const logits = referenceLogits(cfg, w, ids);
    let want = 0;
    for (let t = 1; t < 5; t++) {
      const row = logits[t]!;
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0));
      want += lse - row[ids[t + 1]!]!;
    }
    expect(r.tokens).toBe(4);
    expect(Math.abs(r.loss - want)).toBeLessThan(1e-4);
    tf.dispose(r.grads);
    m.dispose();
  });

  it("full-parameter gradients match plain autodiff (embedding frozen there: no UnsortedSegmentSum on wasm)", async () => {
    const cfg = tinyConfig("llama", { tieWordEmbeddings: false, attentionBias: true });
    const m = randomModel(cfg, { seed: 4, std: 0.2 });
    const batch = packRows([
      [
        [1, 3, 5, 7],
        [1, 9, 11],
      ],
      [[1, 2, 4, 6, 8, 10]],
    ]);
    const labels = Int32Array.from(batch.ids, (id, i) => (batch.segments![i] ? id : -100));
    const vars = m
      .parameters()
      .filter(([n]) => n !== "model.embed_tokens.weight")
      .map(([, v]) => v);
    const mine = await lossAndGrads(m, { batch, labels }, vars, { chunkRows: 3 });
    const targets = shiftLabels(batch, labels);
    const keep = Array.from(targets, (t) => (t === -100 ? 0 : 1));
    const safe = Array.from(targets, (t) => Math.max(t, 0));
    const plain = tf.variableGrads(() => {
      const logp = tf.logSoftmax(tf.matMul(m.hidden(batch, { batchedAttention: true }), m.lmHeadT()));
      const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.tensor1d(safe, "int32"), cfg.vocabSize)), 1);
      return tf.neg(tf.sum(tf.mul(picked, tf.tensor1d(keep)))) as tf.Scalar;
    }, vars);
    expect(Math.abs(mine.loss - (await plain.value.data())[0]!)).toBeLessThan(1e-4);
    for (let i = 0; i < vars.length; i++) await close(mine.grads[i]!, plain.grads[vars[i]!.name]!, 1e-4);
    tf.dispose([plain.value, ...Object.values(plain.grads), ...mine.grads]);
    m.dispose();
  });

  it("SGD steps reduce the loss and leak no tensors (full and LoRA-style)", async () => {
    const cfg = tinyConfig("llama");
    const m = randomModel(cfg, { seed: 6 });
    const batch = padRows([
      [1, 5, 6, 7, 8, 9, 10, 11],
      [1, 20, 21, 22, 23],
    ]);
    const labels = Int32Array.from(batch.ids, (id, i) => (batch.segments![i] ? id : -100));
    const vars = m.parameters().map(([, v]) => v);
    let first = 0;
    let last = 0;
    let count2 = 0;
    for (let step = 1; step <= 20; step++) {
      const r = await lossAndGrads(m, { batch, labels }, vars);
      sgdUpdate(vars, r.grads, 0.2 / r.tokens);
      tf.dispose(r.grads);
      if (step === 1) first = r.loss;
      if (step === 2) count2 = tf.memory().numTensors;
      last = r.loss;
    }
    expect(tf.memory().numTensors).toBe(count2);
    expect(last).toBeLessThan(first * 0.7);

    // LoRA-style: only two small adapter matrices on q_proj and v_proj train.
    const A = tf.variable(tf.randomNormal([cfg.hiddenSize, 2], 0, 0.1, "float32", 9), true, "lora-A");
    const B = tf.variable(tf.zeros([2, cfg.numKvHeads * cfg.headDim]), true, "lora-B");
    const hooks = {
      linear: (x: tf.Tensor2D, base: (x: tf.Tensor2D) => tf.Tensor2D, site: LinearSite) =>
        site.module === "v_proj"
          ? site.add(
              base(x),
              linear(linear(x, A as tf.Tensor as tf.Tensor2D, null), B as tf.Tensor as tf.Tensor2D, null),
            )
          : base(x),
    };
    let loraFirst = 0;
    let loraLast = 0;
    for (let step = 1; step <= 20; step++) {
      const r = await lossAndGrads(m, { batch, labels }, [A, B], { hooks });
      sgdUpdate([A, B], r.grads, 2 / r.tokens);
      tf.dispose(r.grads);
      if (step === 1) loraFirst = r.loss;
      if (step === 2) count2 = tf.memory().numTensors;
      loraLast = r.loss;
    }
    expect(tf.memory().numTensors).toBe(count2);
    expect(loraLast).toBeLessThan(loraFirst);
    tf.dispose([A, B]);
    m.dispose();
  });
});
