// Golden files for the cuda engine: one AdamW step of a small Qwen2-shaped model per method, computed on
// the CPU by the tfjs engine (the numerical oracle): the loss, every trainable gradient (AdamW's first
// moment after one step is (1 - beta1) g) and every trainable tensor after the step. A GPU run computes
// the same step and compares with compareGolden's bf16 tolerances.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Plan } from "../../compile/plan-schema.ts";
import type { ModelConfig } from "../../model/config.ts";
import type { Engine, EngineMicroBatch } from "../engine.ts";
import { enginePlan, packedBatch, smallConfig } from "../native/testing.ts";

export const GOLDEN_DIR = join(import.meta.dirname, "goldens");

/** The methods with a golden file (small enough that all of them together stay under 300 KB). */
export const GOLDEN_CASES: { name: string; method: unknown }[] = [
  { name: "full", method: { kind: "full" } },
  { name: "lora", method: { kind: "lora", rank: 4, alpha: 8, dropout: 0, targets: "all-linear" } },
  { name: "qlora", method: { kind: "qlora", rank: 4, alpha: 16, dropout: 0, targets: "all-linear" } },
  { name: "prefix", method: { kind: "prefix", virtualTokens: 3 } },
];

/** Qwen2-shaped (q/k/v biases, GQA 4/2, untied head), small: vocab 64, d 32, 2 layers. */
export function goldenConfig(): ModelConfig {
  return smallConfig({ vocabSize: 64, hiddenSize: 32, intermediateSize: 48, headDim: 8 });
}

export const GOLDEN_SEED = 5;
export const GOLDEN_LR = 0.05;

export function goldenPlan(method: unknown): Plan {
  return enginePlan(goldenConfig(), method);
}

/** Two packed and padded rows of 24 tokens (some labels off). */
export function goldenBatch(): EngineMicroBatch {
  return packedBatch(1, goldenConfig().vocabSize);
}

export interface GoldenTensor {
  name: string;
  shape: number[];
  grad: Float32Array;
  after: Float32Array;
}

export interface Golden {
  name: string;
  method: unknown;
  lossSum: number;
  trainedTokens: number;
  gradNorm: number;
  tensors: GoldenTensor[];
}

/** One step on `engine` (created for goldenPlan(method), or `plan`): what a golden file holds. */
export async function computeGolden(
  name: string,
  method: unknown,
  engine: Engine,
  plan: Plan = goldenPlan(method),
  batch: EngineMicroBatch = goldenBatch(),
  config: ModelConfig = goldenConfig(),
): Promise<Golden> {
  await engine.load({ plan, model: { config, seed: GOLDEN_SEED } });
  try {
    const r = await engine.forwardBackward(batch, { seed: 0 });
    const { gradNorm } = await engine.applyStep({
      learningRate: GOLDEN_LR,
      clipNorm: 0,
      trainedTokens: r.trainedTokens,
    });
    const state = await engine.readState();
    const beta1 = plan.optimizer.betas[0];
    const tensors = state.weights.map((w) => ({
      name: w.name,
      shape: w.shape,
      grad: Float32Array.from(state.optimizer.m.get(w.name)!, (m) => m / (1 - beta1)),
      after: w.data,
    }));
    return { name, method, lossSum: r.lossSum, trainedTokens: r.trainedTokens, gradNorm, tensors };
  } finally {
    engine.dispose();
  }
}

/** <name>.json (metadata and offsets) + <name>.f32 (the tensors' float32 values, little-endian). */
export function writeGolden(dir: string, g: Golden): string[] {
  const floats = g.tensors.reduce((n, t) => n + 2 * t.grad.length, 0);
  const data = new Float32Array(floats);
  let at = 0;
  const index = g.tensors.map((t) => {
    data.set(t.grad, at);
    data.set(t.after, at + t.grad.length);
    const entry = { name: t.name, shape: t.shape, offset: at, size: t.grad.length };
    at += 2 * t.grad.length;
    return entry;
  });
  const meta = { ...g, tensors: index };
  const json = join(dir, `${g.name}.json`);
  const bin = join(dir, `${g.name}.f32`);
  writeFileSync(json, `${JSON.stringify(meta, null, 2)}\n`);
  writeFileSync(bin, new Uint8Array(data.buffer));
  return [json, bin];
}

export function readGolden(dir: string, name: string): Golden {
  const meta = JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as Omit<Golden, "tensors"> & {
    tensors: { name: string; shape: number[]; offset: number; size: number }[];
  };
  const bytes = readFileSync(join(dir, `${name}.f32`));
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return {
    ...meta,
    tensors: meta.tensors.map((t) => ({
      name: t.name,
      shape: t.shape,
      grad: data.slice(t.offset, t.offset + t.size),
      after: data.slice(t.offset + t.size, t.offset + 2 * t.size),
    })),
  };
}

/** Tolerances of a bf16 GPU step against the float32 CPU golden (errors relative to each tensor's scale). */
export const BF16_TOLERANCE = { loss: 1e-2, gradNorm: 3e-2, grad: 6e-2, after: 1e-2 };

export interface GoldenCheck {
  what: string;
  error: number;
  tolerance: number;
  ok: boolean;
}

/** max |a - b| / max |b| (the error relative to the tensor's scale; an all-zero tensor must stay ~0). */
function relError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff / Math.max(scale, 1e-6);
}

/** Every check of `got` against the golden `want`: loss, gradient norm, each gradient, each tensor after the step. */
export function compareGolden(got: Golden, want: Golden, tol = BF16_TOLERANCE): GoldenCheck[] {
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
  const checks: GoldenCheck[] = [
    { what: "loss", error: rel(got.lossSum, want.lossSum), tolerance: tol.loss, ok: false },
    {
      what: "trained tokens",
      error: got.trainedTokens === want.trainedTokens ? 0 : 1,
      tolerance: 0,
      ok: false,
    },
    { what: "gradient norm", error: rel(got.gradNorm, want.gradNorm), tolerance: tol.gradNorm, ok: false },
  ];
  const byName = new Map(got.tensors.map((t) => [t.name, t]));
  for (const w of want.tensors) {
    const g = byName.get(w.name);
    const same = g !== undefined && g.shape.join("x") === w.shape.join("x");
    checks.push(
      {
        what: `${w.name} gradient`,
        error: same ? relError(g.grad, w.grad) : Number.POSITIVE_INFINITY,
        tolerance: tol.grad,
        ok: false,
      },
      {
        what: `${w.name} after the step`,
        error: same ? relError(g.after, w.after) : Number.POSITIVE_INFINITY,
        tolerance: tol.after,
        ok: false,
      },
    );
  }
  for (const name of byName.keys())
    if (!want.tensors.some((w) => w.name === name))
      checks.push({
        what: `${name} (not in the golden)`,
        error: Number.POSITIVE_INFINITY,
        tolerance: 0,
        ok: false,
      });
  for (const c of checks) c.ok = c.error <= c.tolerance;
  return checks;
}
