// Activation memory of a training step, as our forward and tfjs's tape keep it (tfjs saves a copy
// of every tensor a gradient needs; free.ts releases each node's copies and incoming gradient as
// soon as the backward pass has used them). Counted from the ops in llama.ts; the backward pass's
// working set is measured (see recompute.test.ts).
import type { ModelConfig } from "./config.ts";
import { familyOf } from "./families/index.ts";

export interface ActivationEstimate {
  /** Bytes one decoder layer keeps for its backward pass without recomputation. */
  perLayer: number;
  /** Bytes a layer keeps with recomputation (its input only). */
  perLayerRecomputed: number;
  /** Bytes kept when the backward pass starts. */
  saved: number;
  /** Peak bytes of the step beyond parameters and their gradients. */
  peak: number;
  /** How many peak bytes recomputation (gradient checkpointing) saves. */
  savedByRecompute: number;
}

// What the backward pass holds at once beyond what is still saved, in layers' worth of saved bytes:
// the gradients in flight and the layer being differentiated (or rebuilt). Measured with tf.profile
// on 2–8 layers, with and without recomputation: 2.0–2.4 (3.3 for a long-sequence GQA case). Before
// free.ts it was the whole tape: 1.6 x every layer's saved bytes on top of them all.
const HELD_LAYERS = 2.2;
// The native tier's fused kernels hold fewer intermediates while differentiating a layer; a
// rebuilt layer holds its whole tape at once. Measured (reference model, 8 x 256): 1.0 and 2.0.
const HELD_LAYERS_NATIVE = { kept: 1.1, rebuilt: 2.0 };

/** [d x vocab] tables the loss and the head/embedding gradients hold at once in full training. */
export function headTables(cfg: ModelConfig): number {
  return cfg.tieWordEmbeddings ? 3 : 1;
}

/**
 * Activation bytes for full-parameter training of `batch` rows of `seqLen` tokens (float32). An upper
 * bound for LoRA-style training: frozen linears keep no input. With `recompute`, every layer keeps
 * only its input and one layer at a time is rebuilt in the backward pass.
 */
export function activationBytes(
  cfg: ModelConfig,
  opts: {
    batch: number;
    seqLen: number;
    prefixLen?: number;
    recompute?: boolean;
    /** The native tier's fused kernels (registered for the ops in model/ops/), which keep less. */
    native?: boolean;
  },
): ActivationEstimate {
  const T = opts.batch * opts.seqLen;
  const d = cfg.hiddenSize;
  const q = cfg.numHeads * cfg.headDim;
  const kv = cfg.numKvHeads * cfg.headDim;
  const F = cfg.intermediateSize;
  const K = (opts.prefixLen ?? 0) + opts.seqLen;
  const L = cfg.numLayers;
  // Per token: two RMSNorms (4d each), linear inputs (5d + q + F), RoPE (2q + 2kv), attention
  // inputs (q + 2kv), SwiGLU (5F); reshapes and residual adds keep nothing. Plus attention
  // probabilities per head.
  // Native tier: norms keep x and 1/rms (d + 1 each), linear inputs (5d + q + F), attention q, k, v
  // (q + 2kv), SwiGLU's gate and up (2F); RoPE keeps nothing.
  let perRow = opts.native ? 7 * d + 2 + 2 * q + 2 * kv + 3 * F : 13 * d + 4 * q + 4 * kv + 6 * F;
  // Biases (tfjs paths): the sums the RoPE and SwiGLU products keep as well; the fused kernels
  // keep nothing more for them (measured).
  if (cfg.attentionBias && !opts.native) {
    const oBias = familyOf(cfg)
      .linearModules(cfg)
      .some((m) => m.name === "o_proj" && m.bias);
    perRow += 2 * (q + 2 * kv) + (oBias ? 2 * d : 0);
  }
  if (cfg.mlpBias && !opts.native) perRow += 2 * (2 * F + d);
  // Features beyond Llama run on tfjs ops (the native engine refuses them): each norm keeps about 4 values
  // per element like the two above; GeGLU's tanh GELU keeps about 6F more than SwiGLU (measured,
  // activations-families.test.ts).
  if (cfg.qkNorm) perRow += 4 * (q + kv);
  if (cfg.sandwichNorms) perRow += 8 * d;
  if (cfg.hiddenAct === "gelu_pytorch_tanh") perRow += 6 * F;
  // Soft-capped scores run the batched reference, whose tape keeps about eight more score-sized tensors.
  const scoreCopies = cfg.attnLogitSoftcap != null ? 9 : 1;
  // RoPE tables kept by the q and k products (4 T hd), the rotation matrix, the norm weights.
  const fixed = opts.native ? 0 : 4 * T * cfg.headDim + 2 * cfg.headDim * cfg.headDim + 2 * d;
  const perLayer = 4 * (T * perRow + scoreCopies * opts.batch * cfg.numHeads * opts.seqLen * K + fixed);
  const perLayerRecomputed = 4 * T * d;
  // Final norm (4d), the loss's row gradients (d) and its lm_head gradient (d x V).
  // A tied table also holds, late in the backward pass, the transposed head gradient and the
  // embedding's scatter-add gradient before they are summed (measured on a SmolLM2-shaped model).
  // Soft-capped logits: the loss holds every row's logits at once, about eight [T x V] tensors (not chunked).
  const cappedLogits = cfg.finalLogitSoftcap != null ? 8 * T * cfg.vocabSize : 0;
  const head = 4 * (T * 5 * d + headTables(cfg) * d * cfg.vocabSize + cappedLogits);
  const fullSaved = L * perLayer + head;
  const fullPeak = fullSaved + (opts.native ? HELD_LAYERS_NATIVE.kept : HELD_LAYERS) * perLayer;
  const recSaved = L * perLayerRecomputed + head;
  // One layer rebuilt at a time, inside the same working set.
  const recPeak = recSaved + (opts.native ? HELD_LAYERS_NATIVE.rebuilt : HELD_LAYERS) * perLayer;
  const rec = opts.recompute ?? false;
  return {
    perLayer,
    perLayerRecomputed,
    saved: rec ? recSaved : fullSaved,
    peak: Math.round(rec ? recPeak : fullPeak),
    savedByRecompute: Math.max(0, Math.round(fullPeak - recPeak)),
  };
}
