// plan.kernels describes the engine the plan chose: each engine says what its ops run as.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { nativeKernels } from "../engines/native/plan-kernels.ts";
import { nativeSkip } from "../engines/native/testing.ts";
import { engineDefinition, registerEngine, unregisterEngine } from "../engines/registry.ts";
import { describeKernels } from "../model/kernels.ts";
import { copyExamples } from "../testing/example-copy.ts";
import { compileRecipe } from "./compile.ts";

const examples = copyExamples("sft-plan-kernels-");
const own = [{ op: "linear", formulation: "the described engine's own GEMM" }];
const tfjs = () => engineDefinition("tfjs")!;

async function planWith(engine: string) {
  vi.stubEnv("SFTKIT_ENGINE", engine);
  try {
    const r = await compileRecipe(examples.recipe("qlora"), { readData: false });
    expect(r.plan, JSON.stringify(r.diagnostics)).toBeTruthy();
    return r.plan!;
  } finally {
    vi.unstubAllEnvs();
  }
}

beforeAll(() => {
  for (const [name, kernels] of [
    ["described", () => own],
    ["mute", undefined],
  ] as const)
    registerEngine({
      name,
      description: "a test engine computing with tfjs",
      availability: () => ({ available: true, reason: "a test engine" }),
      auto: false,
      ...(kernels ? { kernels } : {}),
      create: (plan) => tfjs().create(plan),
    });
});
afterAll(() => {
  unregisterEngine("described");
  unregisterEngine("mute");
});

describe("the plan's kernels", () => {
  it("are the chosen engine's own description, not the tfjs ops' tiers", async () => {
    const plan = await planWith("described");
    expect(plan.engine?.chosen).toBe("described");
    expect(plan.kernels).toEqual(own);
  });

  it("say so when the chosen engine does not describe its kernels", async () => {
    const plan = await planWith("mute");
    expect(plan.engine?.chosen).toBe("mute");
    expect(plan.kernels).toEqual([{ op: "*", formulation: "the mute engine does not describe its kernels" }]);
  });

  it("on tfjs: the kernel tiers registered for its backend (the native tier when it loads)", async () => {
    const plan = await planWith("tfjs");
    expect(plan.engine?.chosen).toBe("tfjs");
    expect(plan.kernels).toEqual(describeKernels(plan.backend.chosen, plan.backend.native?.active ?? false));
  });

  it.skipIf(nativeSkip("").skip)(
    "on native: its C++ kernels (flash attention, storage-dtype tiles), nothing of the wasm heap",
    async () => {
      const plan = await planWith("native");
      expect(plan.engine?.chosen).toBe("native");
      // The qlora example rotates whole heads.
      expect(plan.kernels).toEqual(nativeKernels({ cfg: { headDim: 64 } }));
      expect(plan.kernels.find((k) => k.op === "attention")?.formulation).toMatch(/flash/);
      for (const k of plan.kernels) expect(k.formulation).not.toMatch(/wasm|heap|XNNPACK/);
    },
  );
});
