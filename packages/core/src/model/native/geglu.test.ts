// The GeGLU kernels (Gemma's MLP: gelu_pytorch_tanh(gate) * up) against float64 definitions.
import { describe, expect, it } from "vitest";
import { nativeAddon } from "./load.ts";
import { maxRelDiff, nativeSuite, rand } from "./testing.ts";

const { skip, title } = await nativeSuite("native GeGLU kernels");

/** gelu_tanh and its derivative in float64 (transformers' GELUTanh / PytorchGELUTanh). */
function gelu(x: number): [number, number] {
  const c = Math.sqrt(2 / Math.PI);
  const th = Math.tanh(c * (x + 0.044715 * x ** 3));
  return [0.5 * x * (1 + th), 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * c * (1 + 3 * 0.044715 * x * x)];
}

describe.skipIf(skip)(title, () => {
  it("forward and backward over more values than one thread's block, wide inputs included", () => {
    const n = 70_001;
    const g = rand(n, 1, 6);
    const u = rand(n, 2);
    const dy = rand(n, 3);
    const y = new Float32Array(n).fill(Number.NaN);
    const dg = new Float32Array(n).fill(Number.NaN);
    const du = new Float32Array(n).fill(Number.NaN);
    nativeAddon()!.gegluForward(g, u, y, n);
    nativeAddon()!.gegluBackward(dy, g, u, dg, du, n);
    const want = { y: new Float64Array(n), dg: new Float64Array(n), du: new Float64Array(n) };
    for (let i = 0; i < n; i++) {
      const [f, df] = gelu(g[i]!);
      want.y[i] = f * u[i]!;
      want.du[i] = dy[i]! * f;
      want.dg[i] = dy[i]! * u[i]! * df;
    }
    expect(maxRelDiff(y, want.y)).toBeLessThan(1e-6);
    expect(maxRelDiff(dg, want.dg)).toBeLessThan(1e-6);
    expect(maxRelDiff(du, want.du)).toBeLessThan(1e-6);
    expect(() => nativeAddon()!.gegluForward(g, u, new Float32Array(3), n)).toThrow(/y holds 3 values/);
  });
});
