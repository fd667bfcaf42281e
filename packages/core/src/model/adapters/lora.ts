// LoRA: y += dropout(x) @ A^T @ B^T * scale on chosen linear modules. A starts like PEFT
// (Kaiming-uniform, a = sqrt(5): U(-1/sqrt(in), 1/sqrt(in))) and B at zero, so step 0 is the base model.
import * as tf from "@tensorflow/tfjs-core";
import { type LinearModule, linearModules } from "../config.ts";
import { linear } from "../kernels.ts";
import type { LinearName, Model } from "../llama.ts";
import { doraForward, doraWeightNorm } from "./dora.ts";
import { variableOf } from "./ops.ts";
import type { Piece } from "./piece.ts";
import { type PissaInit, pissaFactors } from "./pissa.ts";
import { subSeed, uniform, uniformArray } from "./random.ts";

export interface LoraPair {
  layer: number;
  module: LinearModule;
  /** A stored transposed, [in, r] (x @ A is a plain matmul). */
  a: tf.Variable;
  /** B stored transposed, [r, out]. */
  b: tf.Variable;
  /** DoRA's magnitude vector [out], or null for plain LoRA. */
  magnitude: tf.Variable | null;
  /** PiSSA's initial A [r, in] and B [out, r] (PEFT's layout), kept for the export's conversion; null otherwise. */
  initial: { a: Float32Array; b: Float32Array } | null;
}

export interface Lora extends Piece {
  /** The settings it was built from (the adapter's config records them). */
  readonly options: LoraOptions;
  readonly rank: number;
  readonly scale: number;
  readonly targets: LinearName[];
  readonly pairs: readonly LoraPair[];
}

/** LoRA's settings as flat data. */
export interface LoraOptions {
  rank: number;
  alpha: number;
  /** Dropout on the LoRA input while training. */
  dropout: number;
  targets: "all-linear" | readonly LinearName[];
  /** Rank-stabilised scaling alpha/sqrt(r). */
  rslora: boolean;
  /** DoRA: a trained magnitude per output row over the normalised W + s·B·A (absent: plain LoRA). */
  dora?: boolean;
  /** PiSSA: A and B from W's principal components, the residual left as the base (absent: A random, B zero). */
  init?: PissaInit;
}

/** The frozen base weight of a linear as stored, [in, out]; a fresh tensor for a quantized base. */
export type BaseWeight = (layer: number, module: LinearModule) => tf.Tensor2D;

export function loraScale(m: Pick<LoraOptions, "alpha" | "rank" | "rslora">): number {
  return m.rslora ? m.alpha / Math.sqrt(m.rank) : m.alpha / m.rank;
}

export function loraTargets(model: Model, m: Pick<LoraOptions, "targets">): LinearModule[] {
  const all = linearModules(model.config);
  return m.targets === "all-linear" ? all : all.filter((x) => m.targets.includes(x.name));
}

/** The stable name of a LoRA matrix, e.g. `model.layers.0.self_attn.q_proj.lora_A`. */
export function loraName(layer: number, module: LinearModule, which: "A" | "B" | "magnitude_vector"): string {
  return `model.layers.${layer}.${module.path}.lora_${which}`;
}

/** The stored float32 weight of a linear (a plain, unquantized base). */
export const storedWeight =
  (model: Model): BaseWeight =>
  (layer, module) =>
    model.w(`model.layers.${layer}.${module.path}.weight`) as tf.Tensor as tf.Tensor2D;

/** An inverted-dropout mask (0 or 1/keep) drawn in plain JS from its seed (tf.randomUniform is slower). */
export function dropoutMaskValues(n: number, rate: number, seed: number): Float32Array {
  const r = uniform(seed);
  const keep = 1 - rate;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() < keep ? 1 / keep : 0;
  return out;
}

function dropoutMask(shape: [number, number], rate: number, seed: number): tf.Tensor2D {
  return tf.tensor2d(dropoutMaskValues(shape[0] * shape[1], rate, seed), shape);
}

/**
 * dropout(x) @ a as one op: only dropout(x) is kept for the backward pass (the mask is regenerated
 * from its seed), and the gradients are plain 2-D matmuls.
 */
export function dropoutLinear(x: tf.Tensor2D, a: tf.Tensor2D, rate: number, seed: number): tf.Tensor2D {
  const f = tf.customGrad((xi, ai, save) => {
    const xd = tf.tidy(() => tf.mul(xi as tf.Tensor2D, dropoutMask(x.shape, rate, seed))) as tf.Tensor2D;
    (save as tf.GradSaveFunc)([xd]);
    return {
      value: tf.matMul(xd, ai as tf.Tensor2D),
      gradFunc: (dy, saved) =>
        tf.tidy(() => {
          const d = dy as tf.Tensor2D;
          const dx = tf.mul(tf.matMul(d, tf.transpose(a)), dropoutMask(x.shape, rate, seed));
          return [dx, tf.matMul(tf.transpose(saved[0] as tf.Tensor2D), d)];
        }),
    };
  });
  return f(x, a) as tf.Tensor2D;
}

/**
 * PiSSA's A [in, r] and B [r, out] (stored layout) for one linear, writing the residual into the model's stored
 * base weight, so the model's output is unchanged.
 */
function pissaInit(
  model: Model,
  layer: number,
  mod: LinearModule,
  m: LoraOptions & { init: PissaInit },
  seed: number,
): { a: tf.Tensor2D; b: tf.Tensor2D; initial: { a: Float32Array; b: Float32Array } } {
  const base = model.w(`model.layers.${layer}.${mod.path}.weight`);
  const [inF, out] = [mod.inFeatures, mod.outFeatures];
  const w = tf.tidy(() => tf.transpose(base)).dataSync() as Float32Array;
  const f = pissaFactors(w, out, inF, { rank: m.rank, scale: loraScale(m), init: m.init, seed });
  base.assign(tf.tidy(() => tf.transpose(tf.tensor2d(f.residual, [out, inF]))));
  return {
    a: tf.tidy(() => tf.transpose(tf.tensor2d(f.a, [m.rank, inF]))),
    b: tf.tidy(() => tf.transpose(tf.tensor2d(f.b, [out, m.rank]))),
    initial: { a: f.a, b: f.b },
  };
}

/**
 * LoRA's piece; with `m.init` PiSSA's A and B (the model's base weights become the residuals); with `m.dora`, DoRA's magnitudes start at ‖W + s·B·A‖ per output row as PEFT's
 * DoraLinearLayer.update_layer does. `weight` gives the base weights DoRA normalises (an NF4 base's
 * dequantized ones).
 */
export function lora(
  model: Model,
  m: LoraOptions,
  seed: number,
  weight: BaseWeight = storedWeight(model),
): Lora {
  const targets = loraTargets(model, m);
  const r = m.rank;
  const scale = loraScale(m);
  const pairs: LoraPair[] = [];
  const byKey = new Map<string, LoraPair>();
  const trainable: [string, tf.Variable][] = [];
  const order = linearModules(model.config).map((x) => x.name);
  for (let l = 0; l < model.config.numLayers; l++) {
    for (const mod of targets) {
      const stream = subSeed(seed, l, order.indexOf(mod.name));
      const init = m.init
        ? pissaInit(model, l, mod, { ...m, init: m.init }, stream)
        : {
            a: tf.tensor2d(uniformArray(mod.inFeatures * r, 1 / Math.sqrt(mod.inFeatures), stream), [
              mod.inFeatures,
              r,
            ]),
            b: tf.zeros([r, mod.outFeatures]),
            initial: null,
          };
      const a = variableOf(init.a, `lora${model.id}/${loraName(l, mod, "A")}`);
      const b = variableOf(init.b, `lora${model.id}/${loraName(l, mod, "B")}`);
      const magnitude = m.dora
        ? variableOf(
            tf.tidy(() =>
              doraWeightNorm(
                () => weight(l, mod),
                a as tf.Tensor as tf.Tensor2D,
                b as tf.Tensor as tf.Tensor2D,
                scale,
              ),
            ),
            `lora${model.id}/${loraName(l, mod, "magnitude_vector")}`,
          )
        : null;
      const pair = { layer: l, module: mod, a, b, magnitude, initial: init.initial };
      pairs.push(pair);
      byKey.set(`${l}/${mod.name}`, pair);
      trainable.push([loraName(l, mod, "A"), a], [loraName(l, mod, "B"), b]);
      if (magnitude) trainable.push([loraName(l, mod, "magnitude_vector"), magnitude]);
    }
  }
  return {
    options: m,
    rank: r,
    scale,
    targets: targets.map((t) => t.name),
    pairs,
    trainable,
    hooks(training, stepSeed) {
      return {
        linear: (x, base, site) => {
          const { layer, module } = site;
          const p = byKey.get(`${layer}/${module}`);
          if (!p) return base(x);
          const stream = subSeed(stepSeed, layer, order.indexOf(module));
          if (p.magnitude) {
            const mask = training && m.dropout > 0 ? dropoutMask(x.shape, m.dropout, stream) : null;
            return doraForward(
              x,
              base,
              site.bias,
              {
                a: p.a as tf.Tensor as tf.Tensor2D,
                b: p.b as tf.Tensor as tf.Tensor2D,
                magnitude: p.magnitude as tf.Tensor as tf.Tensor1D,
                scale,
                weight: () => weight(layer, p.module),
                mask,
              },
              site.add,
            );
          }
          const y = base(x);
          const a = p.a as tf.Tensor as tf.Tensor2D;
          // Seeded per step, layer and module: a recomputed layer draws the same mask.
          const h =
            training && m.dropout > 0 ? dropoutLinear(x, a, m.dropout, stream) : linear(x, a, null, true);
          return site.add(
            y,
            linear(tf.mul(h, scale) as tf.Tensor2D, p.b as tf.Tensor as tf.Tensor2D, null, true),
          );
        },
      };
    },
    dispose() {
      for (const p of pairs) {
        p.a.dispose();
        p.b.dispose();
        p.magnitude?.dispose();
      }
    },
  };
}

/** scale * (A @ B) as [in, out] (the stored layout of the linear's weight). */
export function loraDeltaT(p: LoraPair, scale: number): tf.Tensor2D {
  return tf.tidy(() => tf.mul(tf.matMul(p.a, p.b), scale) as tf.Tensor2D);
}
