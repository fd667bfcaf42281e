// One optimizer step with a skipped micro-batch: its gradients never reach the weights or the moments,
// through an engine that keeps one number per weight so the sums can be checked exactly.
import { describe, expect, it } from "vitest";
import type { Engine, EngineMicroBatch, TrainableState } from "../engines/engine.ts";
import type { MicroBatch } from "./batches.ts";
import { trainStep } from "./step.ts";

/** One weight; a micro-batch's gradient is its first id (NaN when the id is -1); SGD on the mean. */
function sumEngine() {
  const s = { weight: 0, moment: 0, step: 0, grad: 0, forwards: 0 };
  const engine = {
    async forwardBackward(b: EngineMicroBatch) {
      s.forwards++;
      const g = b.ids[0] === -1 ? Number.NaN : b.ids[0]!;
      s.grad += g;
      return { lossSum: g, trainedTokens: 1 };
    },
    async applyStep(o: { learningRate: number; trainedTokens: number }) {
      const g = s.grad / o.trainedTokens;
      s.grad = 0;
      s.moment = 0.9 * s.moment + g;
      s.weight -= o.learningRate * s.moment;
      s.step++;
      return { gradNorm: Math.abs(g) };
    },
    async readState(): Promise<TrainableState> {
      return {
        weights: [{ name: "w", shape: [1], data: Float32Array.of(s.weight) }],
        optimizer: { step: s.step, m: new Map([["w", Float32Array.of(s.moment)]]), v: new Map() },
      };
    },
    async writeState(t: TrainableState) {
      s.weight = t.weights[0]!.data[0]!;
      s.moment = t.optimizer.m.get("w")![0]!;
      s.step = t.optimizer.step;
    },
  } as unknown as Engine;
  return { s, engine };
}

const mb = (id: number): MicroBatch => ({
  batch: { batch: 1, seqLen: 1, ids: Int32Array.of(id) },
  labels: Int32Array.of(1),
  tokens: 1,
  trainedTokens: 1,
});

const step = (engine: Engine, ids: number[]) =>
  trainStep(engine, ids.map(mb), {
    seed: () => 0,
    learningRate: 1,
    clipNorm: 0,
    onMicroBatch: (_k, loss) => (Number.isFinite(loss) ? undefined : "skip"),
  });

describe("trainStep with a skipped micro-batch", () => {
  it("applies the mean of the kept micro-batches only, from the state before the step", async () => {
    const { s, engine } = sumEngine();
    const r = await step(engine, [2, -1, 4]);
    expect(r).toMatchObject({ applied: true, skipped: 1, trainedTokens: 2, loss: 3, norm: 3 });
    expect(s).toMatchObject({ weight: -3, moment: 3, step: 1, grad: 0 });
  });

  it("a step of only bad micro-batches changes nothing and says so", async () => {
    const { s, engine } = sumEngine();
    await step(engine, [2]);
    const r = await step(engine, [-1, -1]);
    expect(r).toMatchObject({ applied: false, skipped: 2, trainedTokens: 0 });
    expect(s).toMatchObject({ weight: -2, moment: 2, step: 1, grad: 0 });
  });
});
