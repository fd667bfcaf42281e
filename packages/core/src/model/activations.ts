// Activation memory of a training step, as our forward keeps it (tfjs saves a copy of every
// tensor a gradient needs). Counted from the ops in llama.ts; checked against measurement in tests.
import type { ModelConfig } from "./config.ts";

export interface ActivationEstimate {
  /** Bytes one decoder layer keeps for its backward pass without recomputation. */
  perLayer: number;
  /** Bytes a layer keeps with recomputation (its input only). */
  perLayerRecomputed: number;
  /** Peak activation bytes of the step (layers + final norm and loss rows). */
  total: number;
  /** How many bytes recomputation (gradient checkpointing) saves at the peak. */
  savedByRecompute: number;
}

/**
 * Activation bytes for full-parameter training of `batch` rows of `seqLen` tokens (float32). An upper
 * bound for LoRA-style training: frozen linears keep no input. With `recompute`, every layer keeps
 * only its input and one layer at a time is rebuilt in the backward pass.
 */
export function activationBytes(
  cfg: ModelConfig,
  opts: { batch: number; seqLen: number; prefixLen?: number; recompute?: boolean },
): ActivationEstimate {
  const T = opts.batch * opts.seqLen;
  const d = cfg.hiddenSize;
  const q = cfg.numHeads * cfg.headDim;
  const kv = cfg.numKvHeads * cfg.headDim;
  const F = cfg.intermediateSize;
  const K = (opts.prefixLen ?? 0) + opts.seqLen;
  // Per token: two RMSNorms (4d each), linear inputs, RoPE (9 copies of q and of k), head
  // reshapes, attention inputs, SwiGLU (6F), residual adds; plus attention probabilities.
  let perRow = 17 * d + 15 * q + 13 * kv + 6 * F;
  if (cfg.attentionBias) perRow += 2 * (q + 2 * kv) + (cfg.architecture === "qwen2" ? 0 : 2 * d);
  if (cfg.mlpBias) perRow += 2 * (2 * F + d);
  const perLayer = 4 * (T * perRow + opts.batch * cfg.numHeads * opts.seqLen * K);
  const perLayerRecomputed = 4 * T * d;
  // Final norm (4d) and the loss's saved hidden states (d).
  const head = 4 * T * 5 * d;
  const full = cfg.numLayers * perLayer + head;
  const recomputed = cfg.numLayers * perLayerRecomputed + perLayer + head;
  return {
    perLayer,
    perLayerRecomputed,
    total: opts.recompute ? recomputed : full,
    savedByRecompute: Math.max(0, full - recomputed),
  };
}
