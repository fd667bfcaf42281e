// Shared by the native tier's tests: the wasm backend started, whether the tier is active (with the
// reason in the suite's title when not), and deterministic inputs.
import { mulberry32 } from "../../util/mulberry32.ts";
import { initBackend } from "../backend.ts";
import { nativeAddon, nativeStatus } from "./load.ts";

export async function nativeSuite(name: string): Promise<{ skip: boolean; title: string }> {
  await initBackend({ backend: "wasm" });
  const skip = !nativeAddon();
  const reason = nativeStatus().reason ?? "unknown";
  return { skip, title: skip ? `${name} (skipped: the native tier is not active: ${reason})` : name };
}

/** Deterministic values in [-scale, scale). */
export function rand(n: number, seed: number, scale = 1): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (next() - 0.5) * 2 * scale);
}

/** max |a - b| / max |b| (b the reference), over equal-length arrays. */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    ref = Math.max(ref, Math.abs(b[i]!));
  }
  return diff / Math.max(ref, 1e-30);
}

/** The float64 value of bf16 or IEEE half bits, by the formula (no bit reinterpretation). */
export function halfBitsValue(bits: number, dtype: "bf16" | "f16"): number {
  const [expBits, mantBits, bias] = dtype === "bf16" ? [8, 7, 127] : [5, 10, 15];
  const sign = bits >> 15 ? -1 : 1;
  const e = (bits >> mantBits) & ((1 << expBits) - 1);
  const m = bits & ((1 << mantBits) - 1);
  if (e === (1 << expBits) - 1) return m ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  if (e === 0) return sign * m * 2 ** (1 - bias - mantBits);
  return sign * (1 + m / 2 ** mantBits) * 2 ** (e - bias);
}

/** y[T,N] = x[T,K] @ w[N,K]^T in float64. */
export function matmulBt(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  T: number,
  N: number,
  K: number,
): Float64Array {
  const y = new Float64Array(T * N);
  for (let t = 0; t < T; t++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[t * K + k]! * w[n * K + k]!;
      y[t * N + n] = s;
    }
  return y;
}
