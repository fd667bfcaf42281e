// Every built-in engine refuses an update whose gradient norm is not finite (engine.ts AppliedStep): the
// weights, moments and step count stay as they were, the gradient sums are cleared, `applied` is false.
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../model/backend.ts";
import { nativeAvailability } from "../model/native/load.ts";
import { compileTest, storiesDir, testRecipe } from "../train/fixtures.testing.ts";
import { createCudaEngine } from "./cuda/engine.ts";
import { cudaPackage } from "./cuda/load.ts";
import type { Engine } from "./engine.ts";
import { createNativeEngine } from "./native/engine.ts";
import { createTfjsEngine } from "./tfjs/engine.ts";

function cudaHostSkip(): string | null {
  const p = cudaPackage();
  if ("reason" in p) return p.reason;
  const h = p.pkg.loadCudaHost();
  return "reason" in h ? `@sftkit/cuda's host add-on ${h.reason}` : null;
}

type Plan = Awaited<ReturnType<typeof compileTest>>["plan"];
const engines: { name: string; skip: string | null; create: (plan: Plan) => Promise<Engine> }[] = [
  { name: "tfjs", skip: null, create: createTfjsEngine },
  {
    name: "native",
    skip: (() => {
      const a = nativeAvailability();
      return a.active ? null : `@sftkit/native ${a.reason}`;
    })(),
    create: createNativeEngine,
  },
  { name: "cuda (host backend)", skip: cudaHostSkip(), create: (plan) => createCudaEngine(plan, "host") },
];

beforeAll(async () => {
  await initBackend();
});

const ids = Int32Array.from([1, 5, 6, 7, 8, 9]);
const batch = { batch: 1, seqLen: ids.length, ids, labels: ids };
const step = (engine: Engine, trainedTokens = 5) =>
  engine.applyStep({ learningRate: 1e-3, clipNorm: 1, trainedTokens });

describe("a non-finite gradient norm", () => {
  for (const e of engines)
    it.skipIf(e.skip !== null)(
      `${e.name}: applies nothing; weights, moments and step stay, the sums are cleared${e.skip ? ` (skipped: ${e.skip})` : ""}`,
      async () => {
        const { plan } = await compileTest(testRecipe({ steps: 1, threads: 1 }));
        const open = async () => {
          const engine = await e.create(plan);
          await engine.load({ plan, model: { dir: storiesDir } });
          return engine;
        };
        const engine = await open();
        const fresh = await open();
        try {
          // An ordinary step first, so the moments and the step count are not zero.
          await engine.forwardBackward(batch, { seed: 0 });
          expect((await step(engine)).applied).toBeUndefined();
          const before = await engine.readState();
          const { lossSum } = await engine.forwardBackward(batch, { seed: 0 });
          expect(Number.isFinite(lossSum)).toBe(true);
          // Finite gradients whose mean's norm overflows (the mean divides by the trained tokens), as an
          // overflowing sum of squares would: the norm is Infinity.
          const r = await step(engine, Number.MIN_VALUE);
          expect(r).toEqual({ gradNorm: Number.POSITIVE_INFINITY, applied: false });
          expect(await engine.readState()).toEqual(before);
          // The sums were cleared: the next step's norm is that of one micro-batch on the same state.
          await engine.forwardBackward(batch, { seed: 0 });
          await fresh.writeState(before);
          await fresh.forwardBackward(batch, { seed: 0 });
          expect((await step(engine)).gradNorm).toBeCloseTo((await step(fresh)).gradNorm, 6);
        } finally {
          engine.dispose();
          fresh.dispose();
        }
      },
    );
});
