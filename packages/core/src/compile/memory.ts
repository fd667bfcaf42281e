// The memory model: bytes of weights, gradients, optimizer state and activations for one training step.
import type { ModelConfig } from "../model/config.ts";
import type { Recipe } from "../recipe/schema/recipe.ts";
import type { ParameterGroup, Plan } from "./plan-schema.ts";

/** Rows of logits whose gradient the fused cross-entropy holds at once. */
export const LOSS_CHUNK_ROWS = 512;
/** wasm32 can address at most 4 GiB, whatever the machine has. */
export const WASM_MAX_BYTES = 4 * 1024 ** 3;

export interface MemoryInput {
  cfg: ModelConfig;
  vocab: number;
  groups: ParameterGroup[];
  method: Recipe["method"];
  /** Tokens in one micro-batch, padding included. */
  tokensPerMicroBatch: number;
  /** Padded length of the longest micro-batch row (attention is quadratic in it). */
  sequenceLength: number;
  gradientCheckpointing: boolean;
  device: { backend: string; bytes: number; note: string };
}

/** f32 values kept for backward, per token, in one decoder layer. */
export function activationFloatsPerTokenPerLayer(
  cfg: ModelConfig,
  method: Recipe["method"],
  sequenceLength: number,
): number {
  const d = cfg.hiddenSize;
  const q = cfg.numHeads * cfg.headDim;
  const kv = cfg.numKvHeads * cfg.headDim;
  const ffn = cfg.intermediateSize;
  const keys = sequenceLength + (method.kind === "prefix" ? method.virtualTokens : 0);
  // norms in/out (4d), q and rotated q (2q), k, rotated k, v (3kv), scores + probs (2·heads·keys),
  // attention output (q), residual (d), gate, up, silu(gate), product (4ffn).
  let floats = 5 * d + 3 * q + 3 * kv + 2 * cfg.numHeads * keys + 4 * ffn;
  if (method.kind === "lora" || method.kind === "qlora") {
    // dropout(x) and x·A per adapted module.
    const adapted = method.targets === "all-linear" ? 7 : method.targets.length;
    floats += adapted * (d + method.rank);
  }
  return floats;
}

export function estimateMemory(input: MemoryInput): Plan["memory"] {
  const { cfg, groups, method } = input;
  const weights: Record<string, number> = {};
  for (const g of groups) weights[g.dtype] = (weights[g.dtype] ?? 0) + g.bytes;
  const trainableParams = groups.filter((g) => g.role === "trainable").reduce((a, g) => a + g.parameters, 0);
  const gradients = trainableParams * 4;
  const optimizerState = trainableParams * 8; // AdamW first and second moments, f32

  const perLayer = activationFloatsPerTokenPerLayer(cfg, method, input.sequenceLength) * 4;
  const activationsPerToken = input.gradientCheckpointing
    ? cfg.numLayers * cfg.hiddenSize * 4 + perLayer // layer inputs + one layer recomputed at a time
    : cfg.numLayers * perLayer + 2 * cfg.hiddenSize * 4;
  const activations = activationsPerToken * input.tokensPerMicroBatch;
  // Fused masked cross-entropy: one chunk of logits and their gradient at a time.
  const logits = Math.min(LOSS_CHUNK_ROWS, input.tokensPerMicroBatch) * input.vocab * 4 * 2;
  // QLoRA dequantizes one layer's linear weights at a time, for forward and again for backward.
  const dequant =
    method.kind === "qlora"
      ? (groups.filter((g) => g.role === "quantized").reduce((a, g) => a + g.parameters, 0) / cfg.numLayers) *
        4
      : 0;
  const base =
    Object.values(weights).reduce((a, b) => a + b, 0) +
    gradients +
    optimizerState +
    activations +
    logits +
    dequant;
  const workspace = Math.round(base * 0.1);
  const peak = base + workspace;
  return {
    weights,
    gradients,
    optimizerState,
    activationsPerToken,
    activations,
    logits,
    workspace,
    peak,
    device: input.device,
    fits: peak <= input.device.bytes,
    gradientCheckpointing: input.gradientCheckpointing,
  };
}
