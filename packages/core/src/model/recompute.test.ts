import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { activationBytes } from "./activations.ts";
import { initBackend } from "./backend.ts";
import { packRows } from "./batch.ts";
import type { ModelConfig } from "./config.ts";
import { fusedCrossEntropy, linear } from "./kernels.ts";
import { type LinearSite, type Model, randomModel } from "./llama.ts";
import { withoutNative } from "./native/load.ts";
import { activeKernel } from "./ops/registry.ts";
import { tinyConfig } from "./tiny.ts";
import { lossAndGrads } from "./train-step.ts";

beforeAll(async () => {
  await initBackend();
});

/** Bytes held by tensors when the backward pass starts (what the forward kept). */
function keptBytes(m: Model, B: number, S: number, recompute: boolean): number {
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
  const { value, grads } = tf.variableGrads(() => {
    const h = m.hidden({ batch: B, seqLen: S, ids }, { trainable: new Set(vars), recompute });
    return fusedCrossEntropy(mark(h) as tf.Tensor2D, m.lmHeadT(), ids, { chunkRows: 1 });
  }, vars);
  tf.dispose([value, ...Object.values(grads)]);
  return atBackward - before;
}

describe("gradient checkpointing", () => {
  it("gives the same loss and gradients (full parameters, LoRA hook, packed rows)", async () => {
    const cfg = tinyConfig("qwen2");
    const m = randomModel(cfg, { seed: 8, std: 0.2 });
    const batch = packRows([
      [
        [1, 3, 5, 7],
        [1, 9, 11],
      ],
      [[1, 2, 4, 6, 8, 10, 12]],
    ]);
    const labels = Int32Array.from(batch.ids, (id, i) => (batch.segments![i] ? id : -100));
    const A = tf.variable(tf.randomNormal([cfg.hiddenSize, 2], 0, 0.3, "float32", 1), true, "rc-A");
    const B = tf.variable(tf.randomNormal([2, cfg.hiddenSize], 0, 0.3, "float32", 2), true, "rc-B");
    const hooks = {
      linear: (x: tf.Tensor2D, base: (x: tf.Tensor2D) => tf.Tensor2D, site: LinearSite) =>
        site.module === "o_proj"
          ? site.add(
              base(x),
              linear(linear(x, A as tf.Tensor as tf.Tensor2D, null), B as tf.Tensor as tf.Tensor2D, null),
            )
          : base(x),
    };
    const vars = [...m.parameters().map(([, v]) => v), A, B];
    const plain = await lossAndGrads(m, { batch, labels }, vars, { hooks });
    const before = tf.memory().numTensors;
    const rec = await lossAndGrads(m, { batch, labels }, vars, { hooks, recompute: true });
    expect(Math.abs(rec.loss - plain.loss)).toBeLessThan(1e-4);
    for (let i = 0; i < vars.length; i++) {
      const d = tf.tidy(() => tf.max(tf.abs(tf.sub(rec.grads[i]!, plain.grads[i]!))).dataSync()[0]!);
      expect(d, vars[i]!.name).toBeLessThan(1e-4);
    }
    tf.dispose(rec.grads);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...plain.grads, A, B]);
    m.dispose();
  });

  // The native tier's formula where it is built, and the tfjs formulation's always.
  const tiers = [
    { tier: "active backend (native tier where built)", run: <T>(f: () => T) => f() },
    { tier: "tfjs ops", run: withoutNative },
  ];
  it.each(tiers)(
    "keeps only layer inputs, and activationBytes matches measured saved and peak bytes ($tier)",
    ({ run }) =>
      run(async () => {
        const cases: [ModelConfig, number, number][] = [
          [tinyConfig("llama", { vocabSize: 64, numLayers: 3 }), 2, 16],
          [
            tinyConfig("qwen2", {
              vocabSize: 512,
              numLayers: 2,
              hiddenSize: 64,
              numHeads: 8,
              intermediateSize: 100,
            }),
            4,
            64,
          ],
        ];
        for (const [cfg, B, S] of cases) {
          const m = randomModel(cfg);
          const full = keptBytes(m, B, S, false);
          const rec = keptBytes(m, B, S, true);
          // The native kernels keep fewer activations (activations.ts).
          const native = activeKernel("attention")?.tier === "native";
          const est = activationBytes(cfg, { batch: B, seqLen: S, native });
          const estRec = activationBytes(cfg, { batch: B, seqLen: S, recompute: true, native });
          // What the forward keeps: within 10% (tiny shapes, so constants weigh more).
          expect(Math.abs(est.saved - full) / full, `estimate ${est.saved}, measured ${full}`).toBeLessThan(
            0.1,
          );
          expect(rec).toBeLessThan(full / 3);
          expect(estRec.peak).toBeLessThan(est.peak);
          expect(est.savedByRecompute).toBe(est.peak - estRec.peak);
          if (cfg.vocabSize === 512) {
            // Peaks, measured by tf.profile, for the larger case: within 15%.
            const ids = Int32Array.from({ length: B * S }, (_, i) => 3 + (i % 500));
            const vars = m.parameters().map(([, v]) => v);
            const params = tf.memory().numBytes;
            for (const recompute of [false, true]) {
              const p = await tf.profile(async () => {
                const r = await lossAndGrads(m, { batch: { batch: B, seqLen: S, ids }, labels: ids }, vars, {
                  recompute,
                });
                tf.dispose(r.grads);
              });
              const want = recompute ? estRec.peak : est.peak;
              const got = p.peakBytes - params;
              expect(
                Math.abs(want - got) / got,
                `recompute ${recompute}: estimate ${want}, measured ${got}`,
              ).toBeLessThan(0.15);
            }
          }
          m.dispose();
        }
      }),
  );
});
