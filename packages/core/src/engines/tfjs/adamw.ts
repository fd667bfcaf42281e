// AdamW (decoupled weight decay, as torch.optim.AdamW) with its moments held as tensors.
import * as tf from "@tensorflow/tfjs-core";
import { adamwUpdate } from "../../model/ops/adamw.ts";

export interface AdamWOptions {
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  /** Whether weight decay applies to a parameter (never norms and biases by default). */
  decays: (name: string) => boolean;
  /** A parameter's learning rate as a multiple of the step's (its group's ratio; default 1). */
  learningRateRatio?: (name: string) => number;
}

export interface AdamWState {
  /** Updates made so far (the bias correction's t). */
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class AdamW {
  /** Updates made so far. */
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(
    private readonly params: ReadonlyMap<string, tf.Variable>,
    private readonly opts: AdamWOptions,
  ) {
    for (const [name, p] of params) {
      // A variable keeps its own reference to the initial tensor, which is freed here.
      const zeros = tf.zerosLike(p);
      this.m.set(name, tf.variable(zeros, false));
      this.v.set(name, tf.variable(zeros, false));
      zeros.dispose();
    }
  }

  /** One update with `grads` (already averaged and clipped), by parameter name. */
  update(grads: ReadonlyMap<string, tf.Tensor>, lr: number): void {
    const [b1, b2] = this.opts.betas;
    const t = ++this.step;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) throw new Error(`AdamW: no gradient for "${name}"`);
      const decay = this.opts.weightDecay > 0 && this.opts.decays(name) ? this.opts.weightDecay : 0;
      adamwUpdate(p, g, this.m.get(name)!, this.v.get(name)!, {
        lr: lr * (this.opts.learningRateRatio?.(name) ?? 1),
        beta1: b1,
        beta2: b2,
        eps: this.opts.eps,
        weightDecay: decay,
        c1,
        c2,
      });
    }
  }

  /** The moments as plain arrays (for a checkpoint). */
  async state(): Promise<AdamWState> {
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    for (const name of this.params.keys()) {
      m.set(name, (await this.m.get(name)!.data()) as Float32Array);
      v.set(name, (await this.v.get(name)!.data()) as Float32Array);
    }
    return { step: this.step, m, v };
  }

  /** Restores moments written by `state()`. */
  load(s: AdamWState): void {
    for (const [name, p] of this.params) {
      for (const [which, src, dst] of [
        ["m", s.m, this.m],
        ["v", s.v, this.v],
      ] as const) {
        const data = src.get(name);
        if (!data || data.length !== p.size)
          throw new Error(`optimizer state: ${which} of "${name}" is missing or has the wrong size`);
        const t = tf.tensor(data, p.shape);
        dst.get(name)!.assign(t);
        t.dispose();
      }
    }
    this.step = s.step;
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
    this.m.clear();
    this.v.clear();
  }
}
