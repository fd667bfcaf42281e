// Seeded numbers for adapter init (reproducible across runs and resumes).
import { mulberry32 } from "../../util/mulberry32.ts";

/** mulberry32 in [0, 1). */
export const uniform = mulberry32;

/** n values from U(-bound, bound). */
export function uniformArray(n: number, bound: number, seed: number): Float32Array {
  const r = uniform(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * bound;
  return out;
}

/** n values from N(0, std) (Box-Muller). */
export function normalArray(n: number, std: number, seed: number): Float32Array {
  const r = uniform(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12);
    const v = r();
    const m = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** A 32-bit seed derived from a base seed and a few integers (one stream per tensor / layer). */
export function subSeed(seed: number, ...parts: number[]): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
  }
  return h;
}
