// Fused AdamW on the native tier: one pass per parameter into new tensors (variables may share
// their bytes with other tensors, so nothing is updated in place).
import type * as tf from "@tensorflow/tfjs-core";
import type { AdamWStep } from "../ops/registry.ts";
import { registerHeapKernel, runHeapKernel } from "./heap.ts";
import type { NativeAddon } from "./types.ts";

export type { AdamWStep };

export function registerNativeOptim(addon: NativeAddon): void {
  registerHeapKernel("SftkitAdamW", (heap, inputs, attrs) => {
    const { p, g, m, v } = inputs as Record<"p" | "g" | "m" | "v", tf.TensorInfo>;
    const a = attrs as unknown as AdamWStep;
    const po = heap.out(p.shape);
    const mo = heap.out(p.shape);
    const vo = heap.out(p.shape);
    // Views after every allocation: an allocation may grow (and replace) the heap's buffer.
    addon.adamw(
      heap.f32(p),
      heap.f32(g),
      heap.f32(m),
      heap.f32(v),
      heap.f32(po.info),
      heap.f32(mo.info),
      heap.f32(vo.info),
      a.lr,
      a.beta1,
      a.beta2,
      a.eps,
      a.weightDecay,
      a.c1,
      a.c2,
    );
    return [po.info, mo.info, vo.info];
  });
}

/** New [p, m, v] after one AdamW step (weightDecay 0 for parameters that do not decay). */
export function nativeAdamW(
  p: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  step: AdamWStep,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  return runHeapKernel<tf.Tensor[]>("SftkitAdamW", { p, g, m, v }, { ...step }) as [
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
  ];
}
