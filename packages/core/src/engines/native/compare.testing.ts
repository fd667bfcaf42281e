// Shared by the native engine's method tests: the same plan trained on both engines, step by step,
// with every trainable tensor and AdamW moment compared (m after step 1 is 0.1 x the gradient).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import type { Plan } from "../../compile/plan-schema.ts";
import { SafetensorsFile } from "../../model/safetensors.ts";
import type { Engine, EngineMicroBatch, ModelSource, TrainableState } from "../engine.ts";
import { createTfjsEngine } from "../tfjs/engine.ts";
import { createNativeEngine } from "./engine.ts";
import { enginePlan, packedBatch, relDiff, smallConfig, tempDir } from "./testing.ts";

export interface Run {
  losses: number[];
  norms: number[];
  states: TrainableState[];
  evalLosses: number[];
  /** Files written by saveArtefacts (relative), when asked to save. */
  artefacts?: string[];
}

/** Two steps of two micro-batches each (seeded per step and micro-batch); the state and an eval loss after each. */
export async function runSteps(
  engine: Engine,
  plan: Plan,
  model: ModelSource,
  batches: EngineMicroBatch[],
  steps = 2,
  saveTo: string | null = null,
): Promise<Run> {
  await engine.load({ plan, model });
  const out: Run = { losses: [], norms: [], states: [], evalLosses: [] };
  try {
    for (let step = 0; step < steps; step++) {
      let tokens = 0;
      for (const [k, b] of batches.entries()) {
        const r = await engine.forwardBackward(b, { seed: step * 10 + k });
        out.losses.push(r.lossSum);
        tokens += r.trainedTokens;
      }
      const { gradNorm } = await engine.applyStep({ learningRate: 0.5, clipNorm: 0, trainedTokens: tokens });
      out.norms.push(gradNorm);
      out.states.push(await engine.readState());
      out.evalLosses.push((await engine.evalLoss(batches[0]!)).lossSum);
    }
    if (saveTo)
      out.artefacts = await engine.saveArtefacts({
        outDir: saveTo,
        save: "both",
        tokenizerDir: null,
        chatTemplate: null,
        baseModel: { id: "base", revision: null },
      });
  } finally {
    engine.dispose();
  }
  return out;
}

export function expectSameRuns(a: Run, b: Run, tol = 2e-5): void {
  expect(a.losses.length).toBe(b.losses.length);
  for (const [i, l] of a.losses.entries())
    expect(Math.abs(l - b.losses[i]!) / Math.abs(b.losses[i]!), `loss ${i}`).toBeLessThan(1e-5);
  for (const [i, l] of a.evalLosses.entries())
    expect(Math.abs(l - b.evalLosses[i]!) / Math.abs(b.evalLosses[i]!), `eval ${i}`).toBeLessThan(1e-5);
  for (const [i, n] of a.norms.entries())
    expect(Math.abs(n - b.norms[i]!) / b.norms[i]!, `norm ${i}`).toBeLessThan(1e-4);
  for (const [s, sa] of a.states.entries()) {
    const sb = b.states[s]!;
    expect(sa.weights.map((w) => [w.name, w.shape])).toEqual(sb.weights.map((w) => [w.name, w.shape]));
    for (const w of sb.weights) {
      const where = `step ${s + 1} ${w.name}`;
      expect(relDiff(sa.optimizer.m.get(w.name)!, sb.optimizer.m.get(w.name)!), where).toBeLessThan(tol);
      expect(relDiff(sa.weights.find((x) => x.name === w.name)!.data, w.data), where).toBeLessThan(tol);
    }
  }
}

export interface CompareOptions {
  cfg?: ReturnType<typeof smallConfig>;
  recompute?: boolean;
  model?: ModelSource;
  added?: Plan["tokenizer"]["added"];
  /** Plan fields beside the method (e.g. neftune). */
  plan?: Partial<Plan>;
  /** Also save both engines' artefacts (adapter and merged model) and expect them equal. */
  artefacts?: boolean;
  /** Where the native engine's artefacts go (default: a new temporary folder). */
  saveNativeTo?: string;
  /** The micro-batches of each step (default: two packed and padded rows). */
  batches?: EngineMicroBatch[];
  /** Relative tolerance on every state tensor (default 2e-5). */
  tol?: number;
}

export function comparePlan(method: unknown, opts: CompareOptions = {}): Plan {
  const cfg = opts.cfg ?? smallConfig();
  return {
    ...enginePlan(cfg, method, { recompute: opts.recompute ?? false, added: opts.added }),
    ...opts.plan,
  };
}

/** Trains `method` on both engines and expects the same run; returns the native one's and the tfjs one's. */
export async function compareEngines(
  method: unknown,
  opts: CompareOptions = {},
): Promise<{ native: Run; tfjs: Run }> {
  const cfg = opts.cfg ?? smallConfig();
  const plan = comparePlan(method, opts);
  const model = opts.model ?? { config: cfg, seed: 5 };
  const batches = opts.batches ?? [packedBatch(1, cfg.vocabSize), packedBatch(2, cfg.vocabSize)];
  const dirs = opts.artefacts ? [tempDir("want"), opts.saveNativeTo ?? tempDir("got")] : [null, null];
  const tfjs = await runSteps(await createTfjsEngine(plan), plan, model, batches, 2, dirs[0]!);
  const native = await runSteps(await createNativeEngine(plan), plan, model, batches, 2, dirs[1]!);
  expectSameRuns(native, tfjs, opts.tol);
  if (dirs[0] && dirs[1]) await expectSameArtefacts(dirs[1], native.artefacts!, dirs[0], tfjs.artefacts!);
  return { native, tfjs };
}

/** compareEngines' native run. */
export async function compare(method: unknown, opts: CompareOptions = {}): Promise<Run> {
  return (await compareEngines(method, opts)).native;
}

/** A native run checkpointed after two steps and resumed in a new engine continues exactly as the uninterrupted one. */
export async function expectResumeIdentical(plan: Plan, model: ModelSource, vocab: number): Promise<void> {
  const batches = [packedBatch(1, vocab), packedBatch(2, vocab)];
  const step = async (e: Engine, seed: number) => {
    const r = await e.forwardBackward(batches[seed % 2]!, { seed });
    const s = await e.applyStep({ learningRate: 0.5, clipNorm: 1, trainedTokens: r.trainedTokens });
    return { loss: r.lossSum, ...s };
  };
  const a = await createNativeEngine(plan);
  await a.load({ plan, model });
  await step(a, 0);
  await step(a, 1);
  const saved = await a.readState();
  const b = await createNativeEngine(plan);
  await b.load({ plan, model });
  // A pass before the restore: nothing it derived from the initial trainables may outlive writeState.
  await b.evalLoss(batches[0]!);
  await b.writeState(saved);
  expect(await step(b, 2)).toEqual(await step(a, 2));
  const [sa, sb] = [await a.readState(), await b.readState()];
  expect(sb.optimizer.step).toBe(3);
  expect(sb).toEqual(sa);
  a.dispose();
  b.dispose();
}

/** The same files; JSON equal; every safetensors file with the same tensors (names, shapes) and values within `tol`. */
export async function expectSameArtefacts(
  gotDir: string,
  got: string[],
  wantDir: string,
  want: string[],
  tol = 2e-5,
): Promise<void> {
  expect([...got].sort()).toEqual([...want].sort());
  for (const f of want) {
    if (f.endsWith(".json"))
      expect(JSON.parse(readFileSync(join(gotDir, f), "utf8")), f).toEqual(
        JSON.parse(readFileSync(join(wantDir, f), "utf8")),
      );
    if (!f.endsWith(".safetensors")) continue;
    const [a, b] = [
      await SafetensorsFile.open(join(gotDir, f)),
      await SafetensorsFile.open(join(wantDir, f)),
    ];
    try {
      const shapes = (s: SafetensorsFile) => [...s.tensors].map(([n, t]) => [n, t.dtype, t.shape]).sort();
      expect(shapes(a), f).toEqual(shapes(b));
      for (const name of b.tensors.keys())
        expect(relDiff(await a.readF32(name), await b.readF32(name)), `${f} ${name}`).toBeLessThan(tol);
    } finally {
      await a.close();
      await b.close();
    }
  }
}
