// NEFTune on the native engine: the tfjs engine's seeded noise on the input embeddings, in training only.
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../model/backend.ts";
import { compareEngines, comparePlan, expectResumeIdentical } from "./compare.testing.ts";
import { createNativeEngine } from "./engine.ts";
import { nativeSkip, packedBatch, smallConfig } from "./testing.ts";

const suite = nativeSkip("NEFTune on the native engine");
const lora = { kind: "lora", rank: 4, alpha: 8, dropout: 0, targets: "all-linear" };
const neftune = { neftune: { alpha: 5 } };

describe.skipIf(suite.skip)(suite.title, () => {
  beforeAll(async () => {
    await initBackend();
  });

  it("losses and every gradient equal the tfjs engine's (the same seeded noise), and differ from a run without it", async () => {
    const noisy = await compareEngines(lora, { plan: neftune });
    const plain = await compareEngines(lora);
    expect(Math.abs(noisy.native.losses[0]! - plain.native.losses[0]!)).toBeGreaterThan(1e-4);
  });

  it("adds noise to training passes only: evaluation sees none", async () => {
    const cfg = smallConfig();
    const batch = packedBatch(1, cfg.vocabSize);
    const losses = async (extra: object) => {
      const plan = comparePlan(lora, { plan: extra });
      const e = await createNativeEngine(plan);
      await e.load({ plan, model: { config: cfg, seed: 5 } });
      const evalLoss = (await e.evalLoss(batch)).lossSum;
      const trainLoss = (await e.forwardBackward(batch, { seed: 0 })).lossSum;
      const again = (await e.forwardBackward(batch, { seed: 0 })).lossSum;
      e.dispose();
      return { evalLoss, trainLoss, again };
    };
    const [plain, noisy] = [await losses({}), await losses(neftune)];
    expect(noisy.evalLoss).toBe(plain.evalLoss);
    expect(Math.abs(noisy.trainLoss - plain.trainLoss)).toBeGreaterThan(1e-4);
    // One seed, one noise.
    expect(noisy.again).toBe(noisy.trainLoss);
  });

  it("a checkpointed run resumes exactly (the noise is seeded per micro-batch)", async () => {
    const cfg = smallConfig();
    await expectResumeIdentical(
      comparePlan(lora, { plan: neftune }),
      { config: cfg, seed: 5 },
      cfg.vocabSize,
    );
  });
});
