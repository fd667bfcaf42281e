// The ops, each defined once (formulation, gradient, reference kernel), and the plan's kernel
// section read from them and from the kernel tiers that will register for the backend.
import { NATIVE_TIER } from "../native/kernels.ts";
import { WASM_TIER } from "../wasm-kernels.ts";
import { ADAMW } from "./adamw.ts";
import { ATTENTION } from "./attention.ts";
import { CROSS_ENTROPY } from "./cross-entropy.ts";
import { EMBEDDING } from "./embedding.ts";
import { LINEAR } from "./linear.ts";
import { MATMUL, TRANSPOSE } from "./matmul.ts";
import { NF4_DEQUANT } from "./nf4-dequant.ts";
import type { KernelTier, OpSpec } from "./registry.ts";
import { RMSNORM } from "./rmsnorm.ts";
import { ROPE } from "./rope.ts";
import { SWIGLU } from "./swiglu.ts";

export const OPS: readonly OpSpec[] = [
  MATMUL,
  TRANSPOSE,
  LINEAR,
  EMBEDDING,
  CROSS_ENTROPY,
  ATTENTION,
  ROPE,
  RMSNORM,
  SWIGLU,
  ADAMW,
  NF4_DEQUANT,
];

/** Every kernel tier sftkit has, in registration order (a later tier wins an op). */
export const KERNEL_TIERS: readonly KernelTier[] = [WASM_TIER, NATIVE_TIER];

export interface PlannedKernel {
  op: string;
  formulation: string;
}

/**
 * What each op will run as on `backend` when `tiers` register there: the last tier declaring an
 * op, else the op's reference (ops whose reference has nothing to say are left out).
 */
export function planKernels(backend: string, tiers: readonly KernelTier[]): PlannedKernel[] {
  const out: PlannedKernel[] = [];
  for (const spec of OPS) {
    const chosen = tiers.filter((t) => t.backend === backend && t.kernels[spec.op]).at(-1);
    const formulation = chosen ? chosen.kernels[spec.op]!.formulation : spec.reference.plan(backend);
    if (formulation !== null) out.push({ op: spec.op, formulation });
  }
  return out;
}

/**
 * The plan's kernel section: tiers that come with the backend always register; the native tier
 * (an optional package) when `native` says it will load.
 */
export function describeKernels(backend: string, native = false): PlannedKernel[] {
  return planKernels(
    backend,
    KERNEL_TIERS.filter((t) => t !== NATIVE_TIER || native),
  );
}
