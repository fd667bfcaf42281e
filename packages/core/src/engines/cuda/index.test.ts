import { afterEach, describe, expect, it } from "vitest";
import type { Plan } from "../../compile/plan-schema.ts";
import type { EngineAsk, EngineDefinition } from "../engine.ts";
import { decideEngine, engineDefinition, listEngines, registerEngine } from "../index.ts";
import { CUDA_ENGINE_INCOMPLETE, createCudaEngine } from "./engine.ts";
import { CUDA_STEP_READY, cudaUnsupported } from "./index.ts";

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

  it("is chosen by name where available, but never by auto until its training step is ready", () => {
    registerEngine(withGpu());
    expect(CUDA_STEP_READY).toBe(false);
    expect(decideEngine("auto", { SFTKIT_ENGINE: "cuda" }, plain)).toMatchObject({
      chosen: "cuda",
      reason: "set by $SFTKIT_ENGINE",
    });
    expect(decideEngine("auto", {}, plain).chosen).not.toBe("cuda");
    expect(decideEngine("auto", {}, plain).reason).not.toContain("cuda");
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

  it("create() refuses clearly instead of pretending: unavailable, or its step not written yet", () => {
    const plan = {} as Plan;
    expect(() =>
      createCudaEngine(plan, () => ({
        available: false,
        reason: "@sftkit/cuda unavailable: no CUDA driver",
      })),
    ).toThrow("cuda engine unavailable: @sftkit/cuda unavailable: no CUDA driver");
    expect(() => createCudaEngine(plan, () => ({ available: true, reason: "H200" }))).toThrow(
      CUDA_ENGINE_INCOMPLETE,
    );
    expect(CUDA_ENGINE_INCOMPLETE).toMatch(/cannot train yet.*SFTKIT_ENGINE=native/);
  });
});
