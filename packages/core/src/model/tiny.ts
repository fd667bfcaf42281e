// Tiny configs for tests and examples (a few thousand parameters).
import type { Architecture, ModelConfig } from "./config.ts";

export function tinyConfig(
  architecture: Architecture = "llama",
  over: Partial<ModelConfig> = {},
): ModelConfig {
  return {
    architecture,
    vocabSize: 61,
    hiddenSize: 32,
    intermediateSize: 40,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 8,
    maxPositionEmbeddings: 128,
    rmsNormEps: 1e-6,
    ropeTheta: architecture === "qwen2" ? 1e6 : 10000,
    ropeScaling: null,
    tieWordEmbeddings: architecture === "llama",
    attentionBias: architecture === "qwen2",
    mlpBias: false,
    bosTokenId: 1,
    eosTokenId: 2,
    torchDtype: "float32",
    ...over,
  };
}
