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

/** The 7.36M-parameter reference Llama of ARCHITECTURE.md's measurements (vocab 8192, d 256, 4 layers, untied). */
export function referenceConfig(over: Partial<ModelConfig> = {}): ModelConfig {
  return tinyConfig("llama", {
    vocabSize: 8192,
    hiddenSize: 256,
    intermediateSize: 688,
    numLayers: 4,
    numHeads: 8,
    numKvHeads: 8,
    headDim: 32,
    maxPositionEmbeddings: 2048,
    rmsNormEps: 1e-5,
    tieWordEmbeddings: false,
    ...over,
  });
}

/** SmolLM2-135M's architecture (134.5M parameters, tied embeddings, GQA 9/3). */
export function smollm2Config(over: Partial<ModelConfig> = {}): ModelConfig {
  return tinyConfig("llama", {
    vocabSize: 49152,
    hiddenSize: 576,
    intermediateSize: 1536,
    numLayers: 30,
    numHeads: 9,
    numKvHeads: 3,
    headDim: 64,
    maxPositionEmbeddings: 2048,
    rmsNormEps: 1e-5,
    ropeTheta: 100000,
    tieWordEmbeddings: true,
    ...over,
  });
}
