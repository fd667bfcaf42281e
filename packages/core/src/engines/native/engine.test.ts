import { describe, expect, it } from "vitest";
import type { Plan } from "../../compile/plan-schema.ts";
import type { Engine, EngineMicroBatch, ModelSource, TrainableState } from "../engine.ts";
import { createTfjsEngine } from "../tfjs/engine.ts";
import { createNativeEngine } from "./engine.ts";
import { enginePlan, nativeSkip, packedBatch, relDiff, smallConfig } from "./testing.ts";

const suite = nativeSkip("native engine vs the tfjs engine");

interface Run {
  losses: number[];
  norms: number[];
  states: TrainableState[];
}

/** Two steps of two micro-batches each; the state after each step (AdamW's m is 0.1 x the first gradient). */
async function run(
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

function expectSameRuns(a: Run, b: Run, tol = 2e-5): void {
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

async function compare(
  method: unknown,
  opts: { cfg?: ReturnType<typeof smallConfig>; recompute?: boolean } = {},
) {
  const cfg = opts.cfg ?? smallConfig();
  const plan = enginePlan(cfg, method, { recompute: opts.recompute ?? false });
  const model = { config: cfg, seed: 5 };
  const batches = [packedBatch(1, cfg.vocabSize), packedBatch(2, cfg.vocabSize)];
  const want = await run(await createTfjsEngine(plan), plan, model, batches);
  const got = await run(await createNativeEngine(plan), plan, model, batches);
  expectSameRuns(got, want);
  return got;
}

describe.skipIf(suite.skip)(suite.title, () => {
  it("full fine-tuning: losses, gradient norms and every gradient (AdamW's moments) agree, packed and padded", async () => {
    const got = await compare({ kind: "full" });
    expect(got.states[0]!.weights.length).toBe(2 + 2 * (2 + 7 + 3) + 1);
  });

  it("LoRA all-linear with rsLoRA (B starts at 0: the second step checks A's gradients)", async () => {
    await compare({ kind: "lora", rank: 4, alpha: 8, rslora: true, dropout: 0, targets: "all-linear" });
  });
});
