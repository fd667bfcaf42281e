import { describe, expect, it } from "vitest";
import { activationBytes } from "../model/activations.ts";
import type { ModelConfig } from "../model/config.ts";
import { referenceConfig, smollm2Config, tinyConfig } from "../model/tiny.ts";
import { MethodSchema } from "../recipe/schema/method.ts";
import { activationFloatsPerTokenPerLayer, estimateMemory, type MemoryInput } from "./memory.ts";

// The planner's activation figure comes from the model core's count (`activationBytes`), which
// model/recompute.test.ts checks against tf.profile (saved within 10%, peak within 15%); these tests
// keep the two from drifting apart again.
const ref = referenceConfig();
const smollm2 = smollm2Config();
const qwen: ModelConfig = {
  ...tinyConfig("qwen2", {
    vocabSize: 512,
    numLayers: 2,
    hiddenSize: 64,
    numHeads: 8,
    intermediateSize: 100,
  }),
};

function input(cfg: ModelConfig, method: unknown, tokens: number, seq: number, ckpt = false): MemoryInput {
  return {
    cfg,
    vocab: cfg.vocabSize,
    groups: [],
    method: MethodSchema.parse(method),
    tokensPerMicroBatch: tokens,
    sequenceLength: seq,
    gradientCheckpointing: ckpt,
    device: { backend: "wasm", bytes: 4 * 1024 ** 3, note: "" },
  };
}

describe("memory model: activations", () => {
  const cases: [string, ModelConfig, number, number][] = [
    ["reference 7.1M, 8 x 256", ref, 8, 256],
    ["SmolLM2-135M shape, 1 x 256", smollm2, 1, 256],
    ["SmolLM2-135M shape, 4 x 1024", smollm2, 4, 1024],
    ["tiny qwen2, 4 x 64", qwen, 4, 64],
  ];
  for (const [name, cfg, batch, seq] of cases) {
    it(`full training agrees with activationBytes within 15%: ${name}`, () => {
      for (const ckpt of [false, true]) {
        const plan = estimateMemory(input(cfg, { kind: "full" }, batch * seq, seq, ckpt));
        const core = activationBytes(cfg, { batch, seqLen: seq, recompute: ckpt }).peak;
        expect(Math.abs(plan.activations - core) / core, `ckpt ${ckpt}`).toBeLessThan(0.15);
        expect(plan.activationsPerToken).toBe(Math.round(plan.activations / (batch * seq)));
      }
    });
  }

  it("per-layer floats per token match the core's per-layer count", () => {
    const est = activationBytes(ref, { batch: 2, seqLen: 256 });
    const perToken = activationFloatsPerTokenPerLayer(ref, MethodSchema.parse({ kind: "full" }), 256);
    // Equal up to the layer's fixed tensors (rotation matrix, norm weights).
    expect(Math.abs(perToken * 4 * 2 * 256 - est.perLayer) / est.perLayer).toBeLessThan(0.01);
  });

  it("LoRA keeps less than full training (frozen linears keep no input), more with more targets", () => {
    const full = estimateMemory(input(smollm2, { kind: "full" }, 2048, 512)).activations;
    const qv = estimateMemory(input(smollm2, { kind: "lora", targets: ["q_proj", "v_proj"] }, 2048, 512));
    const all = estimateMemory(input(smollm2, { kind: "lora", targets: "all-linear" }, 2048, 512));
    expect(qv.activations).toBeLessThan(all.activations);
    expect(all.activations).toBeLessThan(full);
    // Never below what the backward pass holds without any linear input.
    expect(qv.activations).toBeGreaterThan(0.7 * full);
  });

  it("DoRA keeps x_d·Wᵀ and x_d·Aᵀ·Bᵀ [out] per adapted linear, and one linear's weight and W + s·B·A while normalising", () => {
    const lora = { kind: "lora", rank: 8, targets: ["q_proj", "down_proj"] };
    const [a, b] = [
      estimateMemory(input(smollm2, lora, 1024, 512)),
      estimateMemory(input(smollm2, { ...lora, dora: true }, 1024, 512)),
    ];
    const outs = smollm2.numHeads * smollm2.headDim + smollm2.hiddenSize;
    expect(b.activations - a.activations).toBe(4 * 1024 * smollm2.numLayers * 2 * outs);
    // Peak = (sum + DoRA's buffers) x 1.1 workspace.
    const norm = 2 * 4 * smollm2.hiddenSize * smollm2.intermediateSize;
    expect(b.peak - a.peak).toBeCloseTo(1.1 * (b.activations - a.activations + norm), -1);
  });

  it("gradient checkpointing cuts activations, and a prefix lengthens attention", () => {
    const plain = estimateMemory(input(ref, { kind: "full" }, 2048, 256));
    const ckpt = estimateMemory(input(ref, { kind: "full" }, 2048, 256, true));
    expect(ckpt.activations).toBeLessThan(plain.activations / 2);
    const pre = estimateMemory(input(ref, { kind: "prefix", virtualTokens: 64 }, 2048, 256));
    const frozen = estimateMemory(input(ref, { kind: "prefix", virtualTokens: 1 }, 2048, 256));
    expect(pre.activations).toBeGreaterThan(frozen.activations);
  });
});
