// What a parsed config turns on beyond the Llama decoder, read the same way by every engine.
import type { ModelConfig } from "./types.ts";

/** The optional ModelConfig fields beyond the Llama decoder: what a plan records when a config sets them. */
export const decoderFeatureKeys = [
  "slidingWindow",
  "layerTypes",
  "qkNorm",
  "hiddenAct",
  "normUnitOffset",
  "embeddingScale",
  "sandwichNorms",
  "queryPreAttnScalar",
  "attnLogitSoftcap",
  "finalLogitSoftcap",
  "ropeLocalTheta",
] as const satisfies readonly (keyof ModelConfig)[];

/** The feature fields `cfg` sets, as they are. */
export function decoderFeatureFields(cfg: ModelConfig): Partial<ModelConfig> {
  return Object.fromEntries(decoderFeatureKeys.filter((k) => cfg[k] !== undefined).map((k) => [k, cfg[k]]));
}

/** The sliding window of layer `l` (null: it attends over everything before it). */
export function layerWindow(cfg: ModelConfig, l: number): number | null {
  const w = cfg.slidingWindow ?? null;
  if (w == null) return null;
  const type = cfg.layerTypes?.[l] ?? "sliding_attention";
  return type === "sliding_attention" ? w : null;
}

/** Whether some layer's window is shorter than the longest sequence the model is built for. */
export function windowBites(cfg: ModelConfig): boolean {
  for (let l = 0; l < cfg.numLayers; l++) {
    const w = layerWindow(cfg, l);
    if (w != null && w < cfg.maxPositionEmbeddings) return true;
  }
  return false;
}

/** The features of `cfg` that the Llama decoder does not have, in words (empty for a plain Llama). */
export function decoderFeatures(cfg: ModelConfig): string[] {
  const out: string[] = [];
  if (windowBites(cfg)) out.push(`sliding-window attention (window ${cfg.slidingWindow})`);
  if (cfg.qkNorm) out.push("per-head q/k RMSNorm");
  if (cfg.hiddenAct === "gelu_pytorch_tanh") out.push("GeGLU (tanh GELU)");
  if (cfg.normUnitOffset) out.push("(1 + weight) RMSNorm");
  if (cfg.embeddingScale) out.push("scaled embeddings");
  if (cfg.sandwichNorms) out.push("post-attention and feed-forward norms");
  if (cfg.queryPreAttnScalar !== undefined && cfg.queryPreAttnScalar !== cfg.headDim)
    out.push("query_pre_attn_scalar");
  if (cfg.attnLogitSoftcap != null) out.push("attention-logit soft-capping");
  if (cfg.finalLogitSoftcap != null) out.push("final-logit soft-capping");
  if (cfg.ropeLocalTheta !== undefined) out.push("a local RoPE base");
  return out;
}
