// DoRA on one linear, as PEFT computes it (src/peft/tuners/lora/dora.py, DoraLinearLayer.forward, v0.20)
// and the tfjs engine does (model/adapters/dora.ts): with W' = W + s·B·A and n = ‖W'‖ per output row
// (a constant: no gradient flows through it), the output is
//   base(x) + (m/n − 1)·(x_d·Wᵀ) + (m/n)·s·(x_d·Aᵀ·Bᵀ)
// where x_d is the LoRA input after dropout and x_d·Wᵀ excludes the bias. Plain float32 arrays.
import { dequantizeNF4 } from "../../model/adapters/nf4.ts";
import type { NativeAddon } from "../../model/native/types.ts";
import { type Stored, toF32 } from "./weights.ts";

/** What DoRA keeps of one linear's forward pass for its backward pass. */
export interface DoraSaved {
  /** ‖W + s·B·A‖ per output row, [O]. */
  norm: Float32Array;
  /** x_d·Wᵀ + s·x_d·Aᵀ·Bᵀ, [T, O]: the magnitude's gradient is Σ_t dy·z / n. */
  z: Float32Array;
}

/** A fresh float32 copy of a linear's base weight [O, I] (one array: the memory model counts one). */
export function doraWeight(s: Stored): Float32Array {
  return s.dtype === "nf4" ? dequantizeNF4(s.q) : toF32(s);
}

/**
 * ‖W + s·B·A‖ per output row. `w` is a float32 copy of the base weight [O, I] (an NF4 base dequantized),
 * overwritten; `at` [I, r] and `bt` [r, O] as the adapters store them.
 */
export function doraRowNorms(
  addon: NativeAddon,
  w: Float32Array,
  at: Float32Array,
  bt: Float32Array,
  rank: number,
  scale: number,
  O: number,
  I: number,
): Float32Array {
  // W += s · Btᵀ Atᵀ ([O, r] x [r, I]).
  addon.sgemmEx(bt, at, w, O, I, rank, true, true, scale, 1, O, rank, I);
  const norm = new Float32Array(O);
  for (let j = 0; j < O; j++) {
    let s2 = 0;
    for (let i = j * I; i < (j + 1) * I; i++) s2 += w[i]! * w[i]!;
    norm[j] = Math.sqrt(s2);
  }
  return norm;
}

/**
 * Adds DoRA's correction to `y` (the layer's output, bias included): (m/n − 1)·baseXd + (m/n)·s·(xa·Bt),
 * with `baseXd` = x_d·Wᵀ (no bias) and `xa` = x_d·At. Returns what the backward pass needs.
 */
export function doraForward(
  addon: NativeAddon,
  y: Float32Array,
  baseXd: Float32Array,
  xa: Float32Array,
  bt: Float32Array,
  magnitude: Float32Array,
  norm: Float32Array,
  scale: number,
  T: number,
  O: number,
  rank: number,
): DoraSaved {
  const lora = new Float32Array(T * O);
  addon.sgemmEx(xa, bt, lora, T, O, rank, false, false, 1, 0, rank, O, O);
  const z = baseXd;
  for (let t = 0; t < T; t++)
    for (let j = 0; j < O; j++) {
      const i = t * O + j;
      const c = magnitude[j]! / norm[j]!;
      y[i]! += baseXd[i]! * (c - 1) + lora[i]! * (c * scale);
      z[i] = baseXd[i]! + scale * lora[i]!;
    }
  return { norm, z };
}

/** dy with column j times v[j], [T, O]. */
export function scaleColumns(dy: Float32Array, v: Float32Array, T: number, O: number): Float32Array {
  const out = new Float32Array(T * O);
  for (let t = 0; t < T; t++) for (let j = 0; j < O; j++) out[t * O + j] = dy[t * O + j]! * v[j]!;
  return out;
}

/** m/n per output row. */
export function doraFactor(magnitude: Float32Array, norm: Float32Array): Float32Array {
  return Float32Array.from(magnitude, (m, j) => m / norm[j]!);
}

/** dm += Σ_t dy·z / n (the norm a constant, as PEFT detaches it). */
export function addMagnitudeGrad(
  dm: Float32Array,
  dy: Float32Array,
  s: DoraSaved,
  T: number,
  O: number,
): void {
  const acc = new Float64Array(O);
  for (let t = 0; t < T; t++) for (let j = 0; j < O; j++) acc[j]! += dy[t * O + j]! * s.z[t * O + j]!;
  for (let j = 0; j < O; j++) dm[j]! += acc[j]! / s.norm[j]!;
}
