import { afterEach, describe, expect, it } from "vitest";
import type { Plan } from "../../compile/plan-schema.ts";
import { MethodSchema } from "../../methods/registry.ts";
import { compileTest, testRecipe } from "../../train/fixtures.testing.ts";
import type { EngineAsk, EngineDefinition } from "../engine.ts";
import { decideEngine, engineDefinition, listEngines, registerEngine } from "../index.ts";
import { createCudaEngine } from "./engine.ts";
import { cudaEngineAvailability, cudaUnsupported } from "./index.ts";

const plain: EngineAsk = {
  backend: "auto",
  gpu: true,
  family: "qwen2",
  convertsWeights: false,
  modelNeeds: [],
};
const real = engineDefinition("cuda")!;
afterEach(() => registerEngine(real));

/** The registered definition as it would be on a machine with a usable GPU. */
function withGpu(): EngineDefinition {
  return { ...real, availability: () => ({ available: true, reason: "@sftkit/cuda NVIDIA H200 (test)" }) };
}

describe("the cuda engine's registration", () => {
  it("is listed, saying why it is (un)available", () => {
    const e = listEngines().find((x) => x.name === "cuda");
    expect(e).toBeDefined();
    // Here (no GPU in CI): not built, no driver, or no GPU, each named.
    if (!e!.available)
      expect(e!.reason).toMatch(
        /^@sftkit\/cuda (unavailable: (not built|no CUDA driver|cuInit failed|the CUDA driver sees no GPU|.*compute capability|.*no cuBLASLt|turned off)|is not installed)/,
      );
  });

  it("SFTKIT_CUDA=0 turns it off with that reason", async () => {
    const { cudaAvailability } = await import("./load.ts");
    expect(cudaAvailability({ SFTKIT_CUDA: "0" })).toMatchObject({
      available: false,
      reason: expect.stringContaining("turned off (SFTKIT_CUDA=0)"),
    });
  });

  it("SFTKIT_ENGINE=cuda without a usable GPU falls back, giving the reason", () => {
    const unavailable: EngineDefinition = {
      ...real,
      availability: () => ({
        available: false,
        reason: "@sftkit/cuda unavailable: no CUDA driver (libcuda.so.1 not found)",
      }),
    };
    registerEngine(unavailable);
    const d = decideEngine("auto", { SFTKIT_ENGINE: "cuda" }, plain);
    expect(d.chosen).not.toBe("cuda");
    expect(d.reason).toContain(
      "cuda is unavailable (@sftkit/cuda unavailable: no CUDA driver (libcuda.so.1 not found))",
    );
  });

  it("is auto's choice where a GPU is usable and the plan is supported; passed by, with the reason, where not", () => {
    registerEngine(withGpu());
    expect(decideEngine("auto", {}, plain)).toMatchObject({ chosen: "cuda" });
    expect(decideEngine("auto", { SFTKIT_ENGINE: "cuda" }, plain)).toMatchObject({
      chosen: "cuda",
      reason: "set by $SFTKIT_ENGINE",
    });
    expect(
      decideEngine("auto", {}, { ...plain, method: { kind: "prefix", virtualTokens: 4 } as never }).chosen,
    ).toBe("cuda");
    const dora = decideEngine(
      "auto",
      {},
      { ...plain, method: { kind: "lora", rank: 8, alpha: 16, dropout: 0.1, dora: true } as never },
    );
    expect(dora.chosen).not.toBe("cuda");
    expect(dora.reason).toContain("DoRA with LoRA dropout");
    const window = decideEngine("auto", {}, { ...plain, modelNeeds: ["sliding-window attention"] });
    expect(window.chosen).not.toBe("cuda");
  });

  it("refuses what its step does not implement, naming the recipe path", () => {
    expect(cudaUnsupported({ ...plain, method: { kind: "full" } as never })).toBeNull();
    expect(
      cudaUnsupported({
        ...plain,
        method: { kind: "lora", rank: 8, alpha: 16, dropout: 0.1, dora: true } as never,
      }),
    ).toContain("DoRA with LoRA dropout (method.dora)");
    expect(cudaUnsupported({ ...plain, features: [{ feature: "pissa", path: "method.init" }] })).toContain(
      "method.init (pissa) is not implemented on cuda",
    );
    expect(cudaUnsupported({ ...plain, modelNeeds: ["q/k norms"] })).toContain("needs q/k norms");
  });

  it("runs NEFTune, LoRA dropout, modules to save, DoRA and trainable rows of added tokens (named or all): auto picks it for such a recipe", async () => {
    const neftune = { feature: "neftune", path: "train.neftuneAlpha" } as const;
    expect(cudaUnsupported({ ...plain, features: [neftune] })).toBeNull();
    const dropout = { kind: "lora", rank: 8, alpha: 16, dropout: 0.1, targets: "all-linear" };
    expect(cudaUnsupported({ ...plain, method: MethodSchema.parse(dropout) })).toBeNull();
    const doraMethod = MethodSchema.parse({ ...dropout, dropout: 0, dora: true });
    const doraUse = { feature: "dora", path: "method.dora" } as const;
    expect(cudaUnsupported({ ...plain, method: doraMethod, features: [doraUse] })).toBeNull();
    const saving = { ...dropout, modulesToSave: ["lm_head", "norms"] };
    const mts = { feature: "modules-to-save", path: "method.modulesToSave" } as const;
    expect(cudaUnsupported({ ...plain, method: MethodSchema.parse(saving), features: [mts] })).toBeNull();
    const named = { kind: "frozen", trainable: { newTokens: ["<|user|>"] } };
    expect(cudaUnsupported({ ...plain, method: MethodSchema.parse(named) })).toBeNull();
    registerEngine(withGpu());
    const saved = process.env.SFTKIT_ENGINE;
    delete process.env.SFTKIT_ENGINE;
    try {
      // A quickstart-like recipe: role tokens added (LoRA trains their rows by default), dropout, NEFTune.
      const recipe = testRecipe({ steps: 1, neftuneAlpha: 5 }, {
        method: { kind: "lora", rank: 4, alpha: 8, dropout: 0.05, targets: "all-linear" },
        tokens: { add: ["<|user|>", "<|assistant|>"] },
      } as never);
      const { plan } = await compileTest(recipe);
      expect(plan.neftune).toMatchObject({ alpha: 5 });
      expect(plan.tokenizer.added.length).toBe(2);
      expect(plan.engine?.chosen).toBe("cuda");
    } finally {
      if (saved !== undefined) process.env.SFTKIT_ENGINE = saved;
    }
  });

  it("SFTKIT_CUDA_HOST=1 makes it available on the host backend where the host add-on is built", () => {
    const a = cudaEngineAvailability({ SFTKIT_CUDA_HOST: "1" });
    if (a.available) expect(a.reason).toContain("host backend");
    else expect(a.reason).toMatch(/host backend unavailable|not installed/);
  });

  it("cannot run a tfjs backend or a family that converts weights at load", () => {
    expect(cudaUnsupported(plain)).toBeNull();
    expect(cudaUnsupported({ ...plain, backend: "wasm" })).toContain('tfjs backend "wasm"');
    expect(cudaUnsupported({ ...plain, family: "fused", convertsWeights: true })).toContain(
      '"fused" converts',
    );
    registerEngine(withGpu());
    expect(decideEngine("cuda", {}, { ...plain, backend: "wasm" }).reason).toMatch(
      /^cuda cannot run this plan \(the tfjs backend "wasm" is requested/,
    );
  });

  it("create() on the device backend refuses clearly where no GPU is usable", async () => {
    const plan = {} as Plan;
    await expect(
      createCudaEngine(plan, "device", () => ({
        available: false,
        reason: "@sftkit/cuda unavailable: no CUDA driver",
      })),
    ).rejects.toThrow("cuda engine unavailable: @sftkit/cuda unavailable: no CUDA driver");
  });
});
