// The CUDA engine's kernels as the plan shows them (plan.kernels): packages/cuda's kernels.cu, flash.cu,
// flash_tc.cu and cuBLASLt, as engines/cuda/model.ts composes them into the step.
import type { Plan } from "../../compile/plan-schema.ts";

const CUDA_KERNELS: Plan["kernels"] = [
  {
    op: "linear",
    formulation:
      "cuBLASLt GEMM on bf16 weights with float32 accumulation; LoRA's small products on float32 values in TF32 (SFTKIT_CUDA_TF32=0: full float32)",
  },
  {
    op: "embedding",
    formulation:
      "kernels.cu: gather from the bf16 table (trained token rows' bf16 copies written into it); the gradient scatter-added",
  },
  {
    op: "cross_entropy",
    formulation:
      "kernels.cu: masked softmax cross-entropy over a chunk of rows; trained token rows' head gradient through a GEMM with a one-hot picker",
  },
  {
    op: "attention",
    formulation:
      "flash_tc.cu (head dims 64 and 128: FlashAttention-2 on bf16 tensor cores, mma.sync with fragments in registers, tiles streamed by cp.async) or flash.cu (16/32: CUDA cores): causal attention over key tiles, keeping each row's log-sum-exp for the backward (no T x T matrix); kernels.cu's per-row kernels for other head dims",
  },
  {
    op: "rope",
    formulation:
      "kernels.cu: rotate-half RoPE; the gradient is the inverse rotation. With one head, cos = a mask and sin = 0 it is x ⊙ mask: LoRA dropout's masks (drawn on the host with the tfjs engine's seeds) and DoRA's column scaling",
  },
  { op: "rmsnorm", formulation: "kernels.cu: RMSNorm saving 1/rms per row; fused backward" },
  { op: "swiglu", formulation: "kernels.cu: silu(gate) * up and its backward" },
  { op: "adamw", formulation: "kernels.cu: one pass per parameter updating p, m and v" },
  { op: "nf4_dequant", formulation: "kernels.cu: NF4 (double-quantized absmax) dequantized per use" },
];

export function cudaKernels(): Plan["kernels"] {
  return CUDA_KERNELS.map((k) => ({ ...k }));
}
