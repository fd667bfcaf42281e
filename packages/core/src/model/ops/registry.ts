// The kernel registry: a faster implementation of an op registers itself for the backend it runs
// on (the native tier does when its addon loads); each op asks for what is registered for the
// running backend and otherwise runs its reference formulation. No op checks for a tier by name.
import * as tf from "@tensorflow/tfjs-core";
// The gradients the ops' tfjs formulations need (tfjs-core's Node bundle registers none).
import "../gradients.ts";
import { withRestore } from "../../util/scoped.ts";

/** The ops of the decoder and its training step, in the order the plan lists them. */
export const OP_NAMES = [
  "matmul",
  "transpose",
  "linear",
  "embedding",
  "cross_entropy",
  "attention",
  "rope",
  "rmsnorm",
  "swiglu",
  "adamw",
  "nf4_dequant",
] as const;
export type OpName = (typeof OP_NAMES)[number];

/** A kernel as the plan shows it. */
export interface KernelInfo {
  /** Kernel name (the tfjs kernel it registers, where it registers one). */
  name: string;
  formulation: string;
  /** Realised through another op's kernel (no implementation of its own). */
  via?: OpName;
}

/** A set of kernels that come together (one package or one registration) for one backend. */
export interface KernelTier {
  tier: string;
  backend: string;
  kernels: Partial<Record<OpName, KernelInfo>>;
}

export interface AttentionDims {
  /** Batch rows. */
  B: number;
  /** Queries per row. */
  S: number;
  /** Keys per row: K - S prefix positions, then the row's own S. */
  K: number;
  /** Query heads. */
  H: number;
  /** Key/value heads (query head h reads kv head floor(h / (H / KV))). */
  KV: number;
  /** Head dimension. */
  hd: number;
}

export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 0 for parameters that do not decay. */
  weightDecay: number;
  /** Bias corrections 1 - beta^t. */
  c1: number;
  c2: number;
}

/** The implementations a tier can register, by op (the signatures the ops call them with). */
export interface OpKernels {
  /** a @ b^T and a^T @ b reading the transposed operand in place (no copy). */
  matmul: {
    bt(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D;
    at(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D;
  };
  rmsnorm(x: tf.Tensor2D, w: tf.Tensor1D, eps: number, grad: boolean, weightGrad: boolean): tf.Tensor2D;
  /** x [T, heads * hd], cos/sin [T * hd]. */
  rope(
    x: tf.Tensor2D,
    cos: Float32Array,
    sin: Float32Array,
    heads: number,
    hd: number,
    grad: boolean,
  ): tf.Tensor2D;
  /** q [B*S, H*hd], k/v [B*K, KV*hd], mask additive [B, S, K] or null (plain causal). */
  attention(
    q: tf.Tensor2D,
    k: tf.Tensor2D,
    v: tf.Tensor2D,
    mask: Float32Array | null,
    dims: AttentionDims,
    scale: number,
    grad: boolean,
  ): tf.Tensor2D;
  swiglu(g: tf.Tensor2D, u: tf.Tensor2D, grad: boolean): tf.Tensor2D;
  /** Summed softmax cross-entropy of logits [rows, V] and, with grad, softmax - onehot. */
  cross_entropy(
    logits: tf.Tensor2D,
    targets: Int32Array,
    grad: boolean,
  ): { loss: number; g: tf.Tensor2D | null };
  /** New [p, m, v] after one step. */
  adamw(
    p: tf.Tensor,
    g: tf.Tensor,
    m: tf.Tensor,
    v: tf.Tensor,
    step: AdamWStep,
  ): [tf.Tensor, tf.Tensor, tf.Tensor];
  /** The float32 [out, in] weight of NF4 codes (two per byte) scaled per block by absmax. */
  nf4_dequant(
    codes: Uint8Array,
    absmax: Float32Array,
    table: Float32Array,
    blockSize: number,
    shape: [number, number],
  ): tf.Tensor2D;
}

interface Entry {
  tier: string;
  info: KernelInfo;
  run: unknown;
}

const byBackend = new Map<string, Map<OpName, Entry>>();
const switchedOff = new Set<string>();

/**
 * Registers a tier's kernels for its backend (a later tier replaces an earlier one op by op;
 * registering the same tier again replaces its own). Every implementation must be declared.
 */
export function registerKernels(tier: KernelTier, impls: Partial<OpKernels>): void {
  for (const op of Object.keys(impls) as (keyof OpKernels)[])
    if (!tier.kernels[op]) throw new Error(`kernel tier ${tier.tier}: ${op} is implemented but not declared`);
  const ops = byBackend.get(tier.backend) ?? new Map<OpName, Entry>();
  byBackend.set(tier.backend, ops);
  for (const op of OP_NAMES) {
    const info = tier.kernels[op];
    if (info) ops.set(op, { tier: tier.tier, info, run: (impls as Record<string, unknown>)[op] });
  }
}

function entry(op: OpName): Entry | undefined {
  const e = byBackend.get(tf.getBackend())?.get(op);
  return e && !switchedOff.has(e.tier) ? e : undefined;
}

/** The registered implementation of an op for the running backend, if any. */
export function kernel<K extends keyof OpKernels>(op: K): OpKernels[K] | undefined {
  return entry(op)?.run as OpKernels[K] | undefined;
}

/** Which registered kernel serves an op on the running backend (undefined: the reference). */
export function activeKernel(op: OpName): { tier: string; name: string } | undefined {
  const e = entry(op);
  return e ? { tier: e.tier, name: e.info.name } : undefined;
}

/** Runs fn with a tier's kernels switched off (tests compare them with the reference), restoring after. */
export function withoutTier<T>(tier: string, fn: () => T): T {
  const wasOff = switchedOff.has(tier);
  switchedOff.add(tier);
  const restore = () => {
    if (!wasOff) switchedOff.delete(tier);
  };
  return withRestore(() => fn(), restore);
}

/** An op's single definition: what it computes, its gradient, and its reference kernel. */
export interface OpSpec {
  op: OpName;
  formulation: string;
  gradient: string;
  reference: {
    name: string;
    /** How the plan shows the reference on a backend; null leaves the op out (nothing to say). */
    plan(backend: string): string | null;
  };
}
