// The decoder's pieces the addon has no kernel for, on plain arrays: RoPE over the first `rot` dimensions
// of each head (partial rotary: Phi-3), and splitting or joining a fused linear's output columns.

/**
 * RoPE in place over the first `rot` dimensions of each of `heads` heads of x [T, heads * hd] (cos, sin
 * [T, hd] as ropeTables gives them); `inverse` rotates back (the gradient).
 */
export function ropePartial(
  x: Float32Array,
  cos: Float32Array,
  sin: Float32Array,
  T: number,
  heads: number,
  hd: number,
  rot: number,
  inverse: boolean,
): void {
  const half = rot / 2;
  const sign = inverse ? -1 : 1;
  for (let t = 0; t < T; t++)
    for (let h = 0; h < heads; h++) {
      const o = (t * heads + h) * hd;
      for (let i = 0; i < half; i++) {
        const c = cos[t * hd + i]!;
        const s = sign * sin[t * hd + i]!;
        const a = x[o + i]!;
        const b = x[o + i + half]!;
        x[o + i] = a * c - b * s;
        x[o + i + half] = b * c + a * s;
      }
    }
}

/** The column blocks of y [T, sum(widths)], each [T, width]. */
export function splitColumns(y: Float32Array, T: number, widths: readonly number[]): Float32Array[] {
  const W = widths.reduce((a, w) => a + w, 0);
  let at = 0;
  return widths.map((w) => {
    const out = new Float32Array(T * w);
    for (let t = 0; t < T; t++) out.set(y.subarray(t * W + at, t * W + at + w), t * w);
    at += w;
    return out;
  });
}

/** splitColumns' inverse: the blocks side by side, [T, sum(widths)]. */
export function joinColumns(parts: readonly Float32Array[], T: number): Float32Array {
  const widths = parts.map((p) => p.length / T);
  const W = widths.reduce((a, w) => a + w, 0);
  const out = new Float32Array(T * W);
  let at = 0;
  parts.forEach((p, i) => {
    const w = widths[i]!;
    for (let t = 0; t < T; t++) out.set(p.subarray(t * w, (t + 1) * w), t * W + at);
    at += w;
  });
  return out;
}
