// Shared by the native engine's tests: whether the addon is built (the reason when not), a small
// GQA model with q/k/v biases, plans for each method, and a packed + padded batch.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Plan } from "../../compile/plan-schema.ts";
import { testPlan } from "../../methods/testing.ts";
import type { ModelConfig } from "../../model/config.ts";
import { nativeAvailability } from "../../model/native/load.ts";
import { tinyConfig } from "../../model/tiny.ts";
import { mulberry32 } from "../../util/mulberry32.ts";
import type { EngineMicroBatch } from "../engine.ts";

export function nativeSkip(name: string): { skip: boolean; title: string } {
  const a = nativeAvailability();
  return { skip: !a.active, title: a.active ? name : `${name} (skipped: @sftkit/native ${a.reason})` };
}

/** 2 layers, d 64, 4 query / 2 key-value heads, vocab 300, q/k/v biases (qwen2). */
export function smallConfig(over: Partial<ModelConfig> = {}): ModelConfig {
  return tinyConfig("qwen2", {
    vocabSize: 300,
    hiddenSize: 64,
    intermediateSize: 96,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 16,
    maxPositionEmbeddings: 256,
    tieWordEmbeddings: false,
    ...over,
  });
}

/** eps 1: AdamW moves each weight by about lr * g (no sign-of-noise steps), so later steps stay comparable. */
export function enginePlan(
  cfg: ModelConfig,
  method: unknown,
  o: { recompute?: boolean; added?: Plan["tokenizer"]["added"] } = {},
): Plan {
  const p = testPlan(cfg, method, {
    recompute: o.recompute ?? false,
    seed: 3,
    added: o.added ?? [],
  }) as unknown as Record<string, unknown>;
  return {
    ...p,
    optimizer: { kind: "adamw", betas: [0.9, 0.999], eps: 1, weightDecay: 0.01 },
    backend: { requested: "cpu", chosen: "cpu", available: ["cpu"], threads: 1, reason: "test" },
    gpu: null,
  } as unknown as Plan;
}

/** Two rows of 24: row 0 packs two sequences and ends in padding, row 1 is one sequence; some labels off. */
export function packedBatch(seed: number, vocab: number): EngineMicroBatch {
  const r = mulberry32(seed);
  const B = 2;
  const S = 24;
  const ids = Int32Array.from({ length: B * S }, () => Math.floor(r() * vocab));
  const segments = new Int32Array(B * S);
  for (let i = 0; i < S; i++) {
    segments[i] = i < 10 ? 1 : i < 18 ? 2 : 0;
    segments[S + i] = 1;
  }
  const labels = Int32Array.from(ids, (id, i) => (segments[i] === 0 || i % S < 3 ? -100 : id));
  return { batch: B, seqLen: S, ids, segments, labels };
}

export const tempDir = (what: string) => mkdtempSync(join(tmpdir(), `sft-native-${what}-`));

/** max |a - b| relative to max |b| (and an absolute floor for all-zero tensors). */
export function relDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / Math.max(scale, 1e-6);
}
