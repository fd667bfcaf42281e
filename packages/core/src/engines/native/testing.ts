// Shared by the native engine's tests: whether the addon is built (the reason when not), a small
// GQA model with q/k/v biases, plans for each method, and a packed + padded batch.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import type { Plan } from "../../compile/plan-schema.ts";
import { testPlan } from "../../methods/testing.ts";
import type { ModelConfig } from "../../model/config.ts";
import { nativeAvailability } from "../../model/native/load.ts";
import { tinyConfig } from "../../model/tiny.ts";
import { mulberry32 } from "../../util/mulberry32.ts";
import type { Engine, EngineMicroBatch, ModelSource, TrainableState } from "../engine.ts";
import { createTfjsEngine } from "../tfjs/engine.ts";
import { createNativeEngine } from "./engine.ts";

type Added = Plan["tokenizer"]["added"];

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

export interface Run {
  losses: number[];
  norms: number[];
  states: TrainableState[];
}

/** Two steps of two micro-batches each; the state after each step (AdamW's m is 0.1 x the first gradient). */
export async function run(
  engine: Engine,
  plan: Plan,
  model: ModelSource,
  batches: EngineMicroBatch[],
): Promise<Run> {
  await engine.load({ plan, model });
  const out: Run = { losses: [], norms: [], states: [] };
  try {
    for (let step = 0; step < 2; step++) {
      let tokens = 0;
      for (const [k, b] of batches.entries()) {
        const r = await engine.forwardBackward(b, { seed: step * 10 + k });
        out.losses.push(r.lossSum);
        tokens += r.trainedTokens;
      }
      const { gradNorm } = await engine.applyStep({ learningRate: 0.5, clipNorm: 0, trainedTokens: tokens });
      out.norms.push(gradNorm);
      out.states.push(await engine.readState());
    }
  } finally {
    engine.dispose();
  }
  return out;
}

export function expectSameRuns(a: Run, b: Run, tol = 2e-5): void {
  for (const [i, l] of a.losses.entries())
    expect(Math.abs(l - b.losses[i]!) / Math.abs(b.losses[i]!)).toBeLessThan(1e-5);
  for (const [i, n] of a.norms.entries()) expect(Math.abs(n - b.norms[i]!) / b.norms[i]!).toBeLessThan(1e-4);
  for (const [s, sa] of a.states.entries()) {
    const sb = b.states[s]!;
    expect(sa.weights.map((w) => [w.name, w.shape])).toEqual(sb.weights.map((w) => [w.name, w.shape]));
    for (const w of sb.weights) {
      // m after step 1 is 0.1 g1; after step 2 0.9 m1 + 0.1 g2: every gradient, compared.
      const where = `step ${s + 1} ${w.name}`;
      expect(relDiff(sa.optimizer.m.get(w.name)!, sb.optimizer.m.get(w.name)!), where).toBeLessThan(tol);
      expect(relDiff(sa.weights.find((x) => x.name === w.name)!.data, w.data), where).toBeLessThan(tol);
    }
  }
}

export async function compare(
  method: unknown,
  opts: {
    cfg?: ModelConfig;
    recompute?: boolean;
    model?: ModelSource;
    added?: Added;
    batches?: EngineMicroBatch[];
    tol?: number;
  } = {},
) {
  const cfg = opts.cfg ?? smallConfig();
  const plan = enginePlan(cfg, method, { recompute: opts.recompute ?? false, added: opts.added });
  const model = opts.model ?? { config: cfg, seed: 5 };
  const batches = opts.batches ?? [packedBatch(1, cfg.vocabSize), packedBatch(2, cfg.vocabSize)];
  const want = await run(await createTfjsEngine(plan), plan, model, batches);
  const got = await run(await createNativeEngine(plan), plan, model, batches);
  expectSameRuns(got, want, opts.tol);
  return got;
}
