// The decoder's element-wise pieces the addon has no kernel for, on plain arrays: GeGLU with the tanh
// GELU (Gemma; transformers' gelu_pytorch_tanh), RoPE over the first `rot` dimensions of each head
// (partial rotary: Phi-3), and splitting or joining a fused linear's output columns.

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const C = 0.044715;

/** y = gelu_tanh(g) * u. */
export function gegluForward(g: Float32Array, u: Float32Array, y: Float32Array): void {
  for (let i = 0; i < g.length; i++) {
    const x = g[i]!;
    const th = Math.tanh(SQRT_2_OVER_PI * (x + C * x * x * x));
    y[i] = 0.5 * x * (1 + th) * u[i]!;
  }
}

/** dg and du (overwritten) of gegluForward, given dy. */
export function gegluBackward(
  dy: Float32Array,
  g: Float32Array,
  u: Float32Array,
  dg: Float32Array,
  du: Float32Array,
): void {
  for (let i = 0; i < g.length; i++) {
    const x = g[i]!;
    const th = Math.tanh(SQRT_2_OVER_PI * (x + C * x * x * x));
    const gelu = 0.5 * x * (1 + th);
    const dgelu = 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * SQRT_2_OVER_PI * (1 + 3 * C * x * x);
    du[i] = dy[i]! * gelu;
    dg[i] = dy[i]! * u[i]! * dgelu;
  }
}

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
