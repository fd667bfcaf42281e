// The native engine's kernels as the plan shows them (plan.kernels): @sftkit/native's C++ on plain
// typed arrays, one OpenMP thread pool and OpenBLAS; frozen weights read in their storage dtype.
import type { Plan } from "../../compile/plan-schema.ts";
import type { ModelConfig } from "../../model/config.ts";
import { rotaryDim } from "../../model/rope.ts";

const NATIVE_ENGINE_KERNELS: Plan["kernels"] = [
  {
    op: "linear",
    formulation:
      "linear.cc: the weight in its storage dtype (f32, bf16, f16 or NF4) converted to float32 a tile of rows at a time into per-thread scratch, each tile one BLAS sgemm; LoRA's x·A·B as two more",
  },
  {
    op: "embedding",
    formulation:
      "storage.cc: rows gathered from the table in its storage dtype (converted per row), trained new-token rows from their own float32 table; the gradient scatter-added",
  },
  {
    op: "cross_entropy",
    formulation:
      "lmhead.cc: fused lm_head + masked cross-entropy over the trained rows, a chunk of rows at a time (no [T, V] logits kept), the head converted a tile of vocabulary rows at a time",
  },
  {
    op: "attention",
    formulation:
      "flash.cc: causal flash attention (blocks of 64 x 64, online softmax), keeping only the output and each row's log-sum-exp; the backward recomputes the probabilities a block at a time (memory linear in T)",
  },
  { op: "rope", formulation: "fused.cc: rotate-half RoPE in place; the gradient is the inverse rotation" },
  { op: "rmsnorm", formulation: "fused.cc: RMSNorm saving 1/rms per row; fused backward" },
  { op: "swiglu", formulation: "fused.cc: silu(gate) * up and its backward in one pass" },
  {
    op: "adamw",
    formulation: "optim.cc: one pass per parameter updating p, m and v (decoupled weight decay)",
  },
  {
    op: "nf4_dequant",
    formulation:
      "storage.h: NF4 codes (double-quantized absmax) dequantized block by block into the linear's reused per-thread tile, per use (never a whole float32 weight)",
  },
];

export function nativeKernels({
  cfg,
}: {
  cfg: Pick<ModelConfig, "headDim" | "partialRotaryFactor">;
}): Plan["kernels"] {
  const kernels = NATIVE_ENGINE_KERNELS.map((k) => ({ ...k }));
  // The fused kernel turns whole heads: partial rotary (phi3) runs activations.ts's loop instead.
  const rot = rotaryDim(cfg);
  if (rot === cfg.headDim) return kernels;
  const formulation = `partial rotary (the first ${rot} of ${cfg.headDim} dimensions per head): rotate-half as x*cos + rotate_half(x)*sin on those in activations.ts (a plain loop), the rest passed through; the gradient is the inverse rotation`;
  return kernels.map((k) => (k.op === "rope" ? { op: "rope", formulation } : k));
}
