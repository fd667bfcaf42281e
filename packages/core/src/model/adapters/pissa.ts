// PiSSA (principal singular values and vectors adaptation) as PEFT computes it (src/peft/tuners/lora/layer.py,
// LoraLayer.pissa_init, v0.20.0-47-g5d602fdbf): A and B from the r leading singular triplets of W, each taking
// sqrt(σ / scale), and the residual W - scale·B·A left as the frozen base, so that W_res + scale·B·A = W.
// Plain arrays in float64: any engine can call it on its base weights at build time.
import { exactSvd, randomizedSvd } from "./svd.ts";

/** `init` of a LoRA method, as PEFT's init_lora_weights spells it: `pissa` (exact SVD) or `pissa_niter_N`. */
export type PissaInit = "pissa" | `pissa_niter_${number}`;

/** The subspace-iteration steps of `pissa_niter_N`, or null for the exact SVD of `pissa`. */
export function pissaIterations(init: PissaInit): number | null {
  if (init === "pissa") return null;
  const n = Number(init.slice("pissa_niter_".length));
  if (!Number.isInteger(n) || n < 0) throw new Error(`init "${init}": expected pissa_niter_<steps>`);
  return n;
}

export interface PissaFactors {
  /** [r, in] row-major (PEFT's lora_A.weight). */
  a: Float32Array;
  /** [out, r] row-major (PEFT's lora_B.weight). */
  b: Float32Array;
  /** W - scale·B·A, [out, in] row-major. */
  residual: Float32Array;
}

/** PiSSA's A, B and residual base for w [out, in] row-major. */
export function pissaFactors(
  w: ArrayLike<number>,
  out: number,
  inF: number,
  opts: { rank: number; scale: number; init: PissaInit; seed: number },
): PissaFactors {
  const w64 = Float64Array.from(w);
  const niter = pissaIterations(opts.init);
  const svd =
    niter === null
      ? exactSvd(w64, out, inF, opts.rank)
      : randomizedSvd(w64, out, inF, opts.rank, niter, opts.seed);
  const r = opts.rank;
  const a = new Float32Array(r * inF);
  const b = new Float32Array(out * r);
  // A rank above min(out, in) keeps zero rows/columns past it (nothing left to take).
  for (let j = 0; j < svd.rank; j++) {
    const root = Math.sqrt(svd.s[j]! / opts.scale);
    for (let c = 0; c < inF; c++) a[j * inF + c] = root * svd.vt[j * inF + c]!;
    for (let i = 0; i < out; i++) b[i * r + j] = root * svd.u[i * svd.rank + j]!;
  }
  const residual = new Float32Array(out * inF);
  for (let i = 0; i < out; i++)
    for (let c = 0; c < inF; c++) {
      let ba = 0;
      for (let j = 0; j < r; j++) ba += b[i * r + j]! * a[j * inF + c]!;
      residual[i * inF + c] = w64[i * inF + c]! - opts.scale * ba;
    }
  return { a, b, residual };
}

/**
 * PEFT's PiSSA-to-LoRA conversion (LoraModel.subtract_mutated_init in src/peft/tuners/lora/model.py, with the
 * config change in PeftModel.save_pretrained, src/peft/peft_model.py, v0.20.0-47-g5d602fdbf): ΔW = s·(B·A - B0·A0)
 * = s·[B | -B0]·[A ; A0], a plain LoRA of rank 2r on the ORIGINAL base, with alpha doubled (×√2 under rsLoRA)
 * so that the scale stays alpha/r.
 */
export function pissaToLora(
  m: { a: Float32Array; b: Float32Array; a0: Float32Array; b0: Float32Array; out: number; inF: number },
  rank: number,
): { a: Float32Array; b: Float32Array } {
  const a = new Float32Array(2 * rank * m.inF);
  a.set(m.a, 0);
  a.set(m.a0, rank * m.inF);
  const b = new Float32Array(m.out * 2 * rank);
  for (let i = 0; i < m.out; i++)
    for (let j = 0; j < rank; j++) {
      b[i * 2 * rank + j] = m.b[i * rank + j]!;
      b[i * 2 * rank + rank + j] = -m.b0[i * rank + j]!;
    }
  return { a, b };
}

/** The converted adapter's alpha: its scale alpha'/r' (or alpha'/sqrt(r') with rsLoRA) stays the trained one. */
export function pissaLoraAlpha(alpha: number, rslora: boolean): number {
  return rslora ? alpha * Math.SQRT2 : alpha * 2;
}
