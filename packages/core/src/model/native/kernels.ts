// The native tier's kernels as the plan shows them; registered for the wasm backend (with their
// implementations) when the addon loads, and read as they are by the plan without loading it.
import type { KernelTier } from "../ops/registry.ts";

export const NATIVE_TIER = {
  tier: "native",
  backend: "wasm",
  kernels: {
    matmul: {
      name: "BatchMatMul (sgemm)",
      formulation:
        "native BLAS sgemm (OpenBLAS) reading and writing the wasm heap in place; transposed operands read as they lie (no copies); small plain products stay on XNNPACK",
    },
    linear: {
      name: "linear",
      via: "matmul",
      formulation: "y = x[T,in] @ Wt[in,out]; dx = dy @ Wt^T; dWt = x^T @ dy (BLAS transposes, no copies)",
    },
    cross_entropy: {
      name: "SftkitSoftmaxXent",
      formulation:
        "fused lm_head + masked CE over trained rows, in chunks; softmax, loss and (softmax - onehot) in one native pass per chunk",
    },
    attention: {
      name: "SftkitAttention",
      formulation:
        "fused native kernel on the [tokens, heads x hd] layout: per (row, head) BLAS products with strided operands (no transposes), softmax in C, probabilities kept for the backward pass",
    },
    rope: {
      name: "SftkitRope",
      formulation: "fused native rotate-half kernel; gradient is the inverse rotation",
    },
    rmsnorm: {
      name: "SftkitRmsNorm",
      formulation: "fused native kernel saving 1/rms per row; fused backward",
    },
    swiglu: { name: "SftkitSwiglu", formulation: "fused native silu(gate) * up and its backward" },
    adamw: {
      name: "SftkitAdamW",
      formulation: "fused native pass per parameter: new p, m and v in one sweep (decoupled decay)",
    },
    nf4_dequant: {
      name: "SftkitNF4Dequant",
      formulation:
        "native dequantization straight into a heap tensor in the stored [out, in] order, per matmul; BLAS reads it transposed in place",
    },
  },
} as const satisfies KernelTier;
