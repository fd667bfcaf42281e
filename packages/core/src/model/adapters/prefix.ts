// P-tuning v2 / prefix tuning: trainable key/value prefixes in every layer. The table is PEFT's layout,
// [P, numLayers * 2 * tokenDim] with tokenDim = headDim * numKvHeads (GQA: prefixes per kv head), layer l's
// keys at columns [2l * tokenDim, ...) and values right after; optionally produced by PEFT's prefix
// projection (Embedding -> Linear -> tanh -> Linear).
import * as tf from "@tensorflow/tfjs-core";
import { linear } from "../kernels.ts";
import type { AdapterHooks, Model } from "../llama.ts";
import { sliceCols, tanh, variableOf } from "./ops.ts";
import type { Piece } from "./piece.ts";
import { normalArray, subSeed, uniformArray } from "./random.ts";

export interface Prefix extends Piece {
  readonly virtualTokens: number;
  readonly tokenDim: number;
  /** Width of the reparameterization MLP, or null when the table trains directly. */
  readonly encoderHiddenSize: number | null;
  /** The [P, L * 2 * tokenDim] table (through the MLP when reparameterized). Caller disposes. */
  table(): tf.Tensor2D;
}

/** Layer `l`'s key and value prefixes, [numKvHeads, P, headDim], from a PEFT-layout table. */
export function prefixKV(
  table: tf.Tensor2D,
  layer: number,
  numKvHeads: number,
  headDim: number,
): { key: tf.Tensor3D; value: tf.Tensor3D } {
  const P = table.shape[0];
  const td = numKvHeads * headDim;
  const part = (i: number) =>
    tf.transpose(
      tf.reshape(sliceCols(table, i * td, td), [P, numKvHeads, headDim]),
      [1, 0, 2],
    ) as tf.Tensor3D;
  return { key: part(2 * layer), value: part(2 * layer + 1) };
}

/** Hooks that prepend a fixed (or variable-backed) table's prefixes in every layer. */
export function prefixHooks(model: Model, table: () => tf.Tensor2D): AdapterHooks {
  const { numKvHeads, headDim } = model.config;
  return { prefix: (layer) => prefixKV(table(), layer, numKvHeads, headDim) };
}

/** Prefix tuning's settings as flat data: the prefix length, and the MLP's width when reparameterized. */
export interface PrefixOptions {
  virtualTokens: number;
  reparameterize: false | { hiddenSize: number };
}

export function prefix(model: Model, m: PrefixOptions, seed: number): Prefix {
  const cfg = model.config;
  const P = m.virtualTokens;
  const td = cfg.headDim * cfg.numKvHeads;
  const out = cfg.numLayers * 2 * td;
  const v = (name: string, values: Float32Array, shape: [number, number] | [number]) =>
    [name, variableOf(tf.tensor(values, shape), `prefix${model.id}/${name}`)] as [string, tf.Variable];
  const trainable: [string, tf.Variable][] = [];
  let table: () => tf.Tensor2D;
  if (m.reparameterize === false) {
    // Small keys and values (N(0, 0.02²)) instead of PEFT's N(0, 1): unit-scale prefixes swamp a small
    // model's attention (stories260K's eval loss went from 1.8 to 7.0 at step 0); small ones start near the
    // base model. The saved layout is PEFT's either way.
    const e = v("prefix.prompt_embeddings", normalArray(P * out, 0.02, subSeed(seed, 1)), [P, out]);
    trainable.push(e);
    table = () => e[1] as tf.Tensor as tf.Tensor2D;
  } else {
    const h = m.reparameterize.hiddenSize;
    // Embedding N(0, 1); Linear weights and biases U(-1/sqrt(in), 1/sqrt(in)) as torch initialises them.
    const e = v("prefix.embedding", normalArray(P * td, 1, subSeed(seed, 1)), [P, td]);
    const w1 = v("prefix.mlp.0.weight", uniformArray(td * h, 1 / Math.sqrt(td), subSeed(seed, 2)), [td, h]);
    const b1 = v("prefix.mlp.0.bias", uniformArray(h, 1 / Math.sqrt(td), subSeed(seed, 3)), [h]);
    const w2 = v("prefix.mlp.2.weight", uniformArray(h * out, 1 / Math.sqrt(h), subSeed(seed, 4)), [h, out]);
    const b2 = v("prefix.mlp.2.bias", uniformArray(out, 1 / Math.sqrt(h), subSeed(seed, 5)), [out]);
    trainable.push(e, w1, b1, w2, b2);
    const t = (x: [string, tf.Variable]) => x[1] as tf.Tensor as tf.Tensor2D;
    table = () => {
      const hid = tanh(linear(t(e), t(w1), b1[1] as tf.Tensor as tf.Tensor1D, true));
      return linear(hid, t(w2), b2[1] as tf.Tensor as tf.Tensor1D, true);
    };
  }
  const hooks = prefixHooks(model, table);
  return {
    virtualTokens: P,
    tokenDim: td,
    encoderHiddenSize: m.reparameterize === false ? null : m.reparameterize.hiddenSize,
    trainable,
    table: () => tf.tidy(() => tf.clone(table())),
    hooks: () => hooks,
    dispose() {
      for (const [, x] of trainable) x.dispose();
    },
  };
}
