// A frozen base whose linear weights live as NF4 (QLoRA): each weight is dequantized in plain JS for
// one matmul and dropped after it, in the forward pass and again in the backward pass, so at most one
// layer's float32 weight exists at a time.
import * as tf from "@tensorflow/tfjs-core";
import { type LinearModule, linearModules } from "../config.ts";
import type { Model } from "../llama.ts";
import { nf4Matmul } from "../ops/nf4-dequant.ts";
import { dequantizeNF4, type NF4Options, type NF4Tensor, nf4Bytes, quantizeNF4 } from "./nf4.ts";
import type { Piece } from "./piece.ts";

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
      linear: (x, base, site) => {
        const ql = linears.get(`${site.layer}/${site.module}`);
        if (!ql) return base(x);
        const y = nf4Matmul(x, ql.q, ql.module.outFeatures, ql.module.inFeatures);
        return site.bias ? (tf.add(y, site.bias) as tf.Tensor2D) : y;
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
