// AdamW over float32 arrays (the addon's fused update, in place; the tfjs engine's formula and bias
// correction), and the step's mean-over-tokens + global-norm clipping as torch's clip_grad_norm_.
import type { NativeAddon } from "../../model/native/types.ts";
import type { AdamWOptions } from "../tfjs/adamw.ts";
import type { TrainParam } from "./methods.ts";

/**
 * Gradients are sums over the step's trained tokens: the mean divides by `tokens`, and the clip
 * (0 = off) scales the mean down to `clipNorm`. Returns the factor to apply and the norm before clipping.
 */
export function clipScale(
  sumSquares: (g: Float32Array) => number,
  grads: readonly Float32Array[],
  tokens: number,
  clipNorm: number,
): { scale: number; norm: number } {
  const inv = tokens > 0 ? 1 / tokens : 0;
  let sq = 0;
  for (const g of grads) sq += sumSquares(g);
  const norm = Math.sqrt(sq) * inv;
  const clip = clipNorm > 0 && norm > clipNorm ? clipNorm / (norm + 1e-6) : 1;
  return { scale: inv * clip, norm };
}

export class AdamW {
  step = 0;
  readonly m: Float32Array[];
  readonly v: Float32Array[];

  constructor(
    private readonly addon: NativeAddon,
    private readonly params: readonly TrainParam[],
    private readonly opts: AdamWOptions,
  ) {
    this.m = params.map((p) => new Float32Array(p.data.length));
    this.v = params.map((p) => new Float32Array(p.data.length));
  }

  /** One update with each gradient sum times `gradScale`. */
  update(gradScale: number, lr: number): void {
    const [b1, b2] = this.opts.betas;
    const t = ++this.step;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    this.params.forEach((p, i) => {
      const decay = this.opts.weightDecay > 0 && this.opts.decays(p.name) ? this.opts.weightDecay : 0;
      const m = this.m[i]!;
      const v = this.v[i]!;
      const rate = lr * (this.opts.learningRateRatio?.(p.name) ?? 1);
      this.addon.adamwInPlace(p.data, p.grad, m, v, rate, b1, b2, this.opts.eps, decay, c1, c2, gradScale);
    });
  }

  bytes(): number {
    let n = 0;
    for (const a of [...this.m, ...this.v]) n += a.byteLength;
    return n;
  }
}
