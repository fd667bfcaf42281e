// A frozen base whose linear weights live as NF4 (QLoRA): each weight is dequantized in plain JS for
// one matmul and dropped after it, in the forward pass and again in the backward pass, so at most one
// layer's float32 weight exists at a time.
import * as tf from "@tensorflow/tfjs-core";
import { type LinearModule, linearModules } from "../config.ts";
import type { Model } from "../llama.ts";
import { nativeAddon } from "../native/load.ts";
import { nativeDequantNF4 } from "../native/quant.ts";
import type { Piece } from "./method.ts";
import {
  dequantizeNF4,
  type NF4Options,
  type NF4Tensor,
  nf4Absmax,
  nf4Bytes,
  nf4Table,
  quantizeNF4,
} from "./nf4.ts";

export interface QuantizedLinear {
  module: LinearModule;
  /** The HF-layout [out, in] weight, quantized. */
  q: NF4Tensor;
}

export interface NF4Base extends Piece {
  /** By `layer/module`. */
  readonly linears: ReadonlyMap<string, QuantizedLinear>;
  /** HF-layout [out, in] float32 weight of one linear. */
  dequantized(layer: number, module: string): Float32Array;
  /** Bytes of all NF4 storage, and the parameters it holds. */
  storage(): { bytes: number; parameters: number };
}

/** x @ W^T for a quantized W [out, in]; the backward pass dequantizes again (dx = dy @ W). */
function nf4Matmul(x: tf.Tensor2D, ql: QuantizedLinear): tf.Tensor2D {
  const { inFeatures: inF, outFeatures: outF } = ql.module;
  if (nativeAddon()) {
    // Dequantized natively into a heap tensor in [out, in] order; BLAS reads it transposed as is.
    const weight = () =>
      nativeDequantNF4(ql.q.codes, nf4Absmax(ql.q), nf4Table(), ql.q.blockSize, [outF, inF]);
    const f = tf.customGrad((xi) => ({
      value: tf.tidy(() => tf.matMul(xi as tf.Tensor2D, weight(), false, true)),
      gradFunc: (dy) => tf.tidy(() => tf.matMul(dy as tf.Tensor2D, weight())),
    }));
    return f(x) as tf.Tensor2D;
  }
  const f = tf.customGrad((xi) => {
    const value = tf.tidy(() =>
      tf.matMul(xi as tf.Tensor2D, tf.tensor2d(dequantizeNF4(ql.q, [outF, inF]), [inF, outF])),
    );
    return {
      value,
      gradFunc: (dy) =>
        tf.tidy(() => tf.matMul(dy as tf.Tensor2D, tf.tensor2d(dequantizeNF4(ql.q), [outF, inF]))),
    };
  });
  return f(x) as tf.Tensor2D;
}

/** Quantizes the model's linear weights to NF4 and removes their float32 variables from the model. */
export function nf4Base(model: Model, opts: NF4Options): NF4Base {
  const linears = new Map<string, QuantizedLinear>();
  for (let l = 0; l < model.config.numLayers; l++) {
    for (const m of linearModules(model.config)) {
      const name = `model.layers.${l}.${m.path}.weight`;
      const v = model.weights.get(name);
      if (!v) throw new Error(`QLoRA: ${name} is already quantized (build the method once per loaded model)`);
      // Stored [in, out]; quantize in HF's [out, in] order, as bitsandbytes blocks it.
      const t = tf.transpose(v);
      const hf = t.dataSync() as Float32Array;
      t.dispose();
      linears.set(`${l}/${m.name}`, { module: m, q: quantizeNF4(hf, opts) });
      v.dispose();
      model.weights.delete(name);
    }
  }
  return {
    linears,
    trainable: [],
    hooks: () => ({
      base: (layer, module, x) => {
        const ql = linears.get(`${layer}/${module}`);
        return ql ? nf4Matmul(x, ql) : null;
      },
    }),
    dequantized(layer, module) {
      const ql = linears.get(`${layer}/${module}`);
      if (!ql) throw new Error(`no quantized weight for layer ${layer} ${module}`);
      return dequantizeNF4(ql.q);
    },
    storage() {
      let bytes = 0;
      let parameters = 0;
      for (const ql of linears.values()) {
        bytes += nf4Bytes(ql.q);
        parameters += ql.q.length;
      }
      return { bytes, parameters };
    },
    dispose() {
      linears.clear();
    },
  };
}
