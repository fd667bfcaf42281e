// Rotary position embedding tables, as transformers computes them (default, linear, llama3, longrope; partial
// rotary, where only the first dimensions of each head rotate).
import type { ModelConfig } from "./config.ts";
import { decodeToF32, encodeFromF32 } from "./dtype.ts";

type RopeConfig = Pick<
  ModelConfig,
  "headDim" | "ropeTheta" | "ropeScaling" | "partialRotaryFactor" | "maxPositionEmbeddings"
>;

/** Dimensions of each head that RoPE rotates: all, or int(headDim * partial_rotary_factor). */
export function rotaryDim(cfg: Pick<ModelConfig, "headDim" | "partialRotaryFactor">): number {
  return Math.floor(cfg.headDim * (cfg.partialRotaryFactor ?? 1));
}

/**
 * inv_freq[i] for i < rotaryDim/2, with the config's rope scaling applied. `seqLen` (the largest position + 1)
 * picks longrope's long factors beyond its original context, as transformers' dynamic update does.
 */
export function inverseFrequencies(cfg: RopeConfig, seqLen = 0): Float64Array {
  const dim = rotaryDim(cfg);
  const half = dim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / cfg.ropeTheta ** ((2 * i) / dim);
  const s = cfg.ropeScaling;
  if (s?.type === "linear") {
    for (let i = 0; i < half; i++) inv[i] = inv[i]! / s.factor;
  } else if (s?.type === "llama3") {
    const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const f = inv[i]!;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowWavelen) inv[i] = f / s.factor;
      else if (wavelen >= highWavelen) {
        const smooth =
          (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) /
          (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = ((1 - smooth) * f) / s.factor + smooth * f;
      }
    }
  } else if (s?.type === "longrope") {
    const ext = seqLen > s.originalMaxPositionEmbeddings ? s.longFactor : s.shortFactor;
    for (let i = 0; i < half; i++) inv[i] = inv[i]! / ext[i]!;
  }
  return inv;
}

/**
 * The scale of cos and sin: longrope's attention factor (as given, else sqrt(1 + ln(factor) / ln(original))
 * with factor = max_position_embeddings / original, as transformers derives it); 1 otherwise.
 */
export function attentionScaling(cfg: RopeConfig): number {
  const s = cfg.ropeScaling;
  if (s?.type !== "longrope") return 1;
  if (s.attentionFactor != null) return s.attentionFactor;
  const factor = cfg.maxPositionEmbeddings / s.originalMaxPositionEmbeddings;
  return factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(s.originalMaxPositionEmbeddings));
}

/**
 * cos and sin tables [positions.length, headDim]: the rotary halves repeated (as cat(freqs, freqs)), then
 * cos 1 and sin 0 over the dimensions partial rotary passes through.
 */
export function ropeTables(
  cfg: RopeConfig,
  positions: ArrayLike<number>,
): { cos: Float32Array; sin: Float32Array } {
  let seqLen = 0;
  for (let t = 0; t < positions.length; t++) seqLen = Math.max(seqLen, positions[t]! + 1);
  const inv = inverseFrequencies(cfg, seqLen);
  const scale = attentionScaling(cfg);
  const hd = cfg.headDim;
  const half = rotaryDim(cfg) / 2;
  const cos = new Float32Array(positions.length * hd);
  const sin = new Float32Array(positions.length * hd);
  for (let t = 0; t < positions.length; t++) {
    const p = positions[t]!;
    for (let i = 0; i < half; i++) {
      const a = p * inv[i]!;
      const c = Math.cos(a) * scale;
      const s = Math.sin(a) * scale;
      cos[t * hd + i] = c;
      cos[t * hd + i + half] = c;
      sin[t * hd + i] = s;
      sin[t * hd + i + half] = s;
    }
    for (let i = 2 * half; i < hd; i++) cos[t * hd + i] = 1;
  }
  return { cos, sin };
}

/**
 * R such that x @ R = rotate_half(x) = cat(-x[half:], x[:half]) over the first `rot` dimensions (all by
 * default), and 0 over the rest (their sin is 0).
 */
export function rotateHalfMatrix(hd: number, rot = hd): Float32Array {
  const half = rot / 2;
  const r = new Float32Array(hd * hd);
  for (let j = 0; j < half; j++) r[(j + half) * hd + j] = -1;
  for (let j = half; j < rot; j++) r[(j - half) * hd + j] = 1;
  return r;
}

/**
 * Gemma's embedding multiplier sqrt(hiddenSize), rounded to the model dtype as transformers computes it
 * (`torch.tensor(hidden_size**0.5, dtype=hidden_states.dtype)`): 5.65625 for d = 32 in bfloat16.
 */
export function embeddingScale(cfg: Pick<ModelConfig, "hiddenSize" | "torchDtype">): number {
  const dtype = ({ float32: "F32", float16: "F16", bfloat16: "BF16" } as const)[cfg.torchDtype];
  const rounded = encodeFromF32(new Float32Array([Math.sqrt(cfg.hiddenSize)]), dtype);
  return decodeToF32(rounded, dtype)[0]!;
}
