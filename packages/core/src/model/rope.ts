// Rotary position embedding tables, as transformers computes them (default, linear, llama3).
import type { ModelConfig } from "./config.ts";
import { decodeToF32, encodeFromF32 } from "./dtype.ts";

/** inv_freq[i] for i < headDim/2, with the config's rope scaling applied. */
export function inverseFrequencies(cfg: ModelConfig): Float64Array {
  const half = cfg.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / cfg.ropeTheta ** ((2 * i) / cfg.headDim);
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
  }
  return inv;
}

/** cos and sin tables [positions.length, headDim] (the halves repeated, as cat(freqs, freqs)). */
export function ropeTables(
  cfg: ModelConfig,
  positions: ArrayLike<number>,
): { cos: Float32Array; sin: Float32Array } {
  const inv = inverseFrequencies(cfg);
  const hd = cfg.headDim;
  const half = hd / 2;
  const cos = new Float32Array(positions.length * hd);
  const sin = new Float32Array(positions.length * hd);
  for (let t = 0; t < positions.length; t++) {
    const p = positions[t]!;
    for (let i = 0; i < half; i++) {
      const a = p * inv[i]!;
      const c = Math.cos(a);
      const s = Math.sin(a);
      cos[t * hd + i] = c;
      cos[t * hd + i + half] = c;
      sin[t * hd + i] = s;
      sin[t * hd + i + half] = s;
    }
  }
  return { cos, sin };
}

/** R such that x @ R = rotate_half(x) = cat(-x[half:], x[:half]). */
export function rotateHalfMatrix(hd: number): Float32Array {
  const half = hd / 2;
  const r = new Float32Array(hd * hd);
  for (let j = 0; j < half; j++) r[(j + half) * hd + j] = -1;
  for (let j = half; j < hd; j++) r[(j - half) * hd + j] = 1;
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
