import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { initBackend } from "./backend.ts";
import { describeKernels } from "./kernels.ts";

describe("initBackend", () => {
  it("picks wasm by default here (tensorflow is not installed) with SIMD, and honours overrides", async () => {
    const auto = await initBackend({ env: {} });
    expect(auto.backend).toBe("wasm");
    expect(auto.simd).toBe(true);
    expect(auto.threads).toBeGreaterThanOrEqual(1);
    const cpu = await initBackend({ env: { SFTKIT_BACKEND: "cpu" } });
    expect(cpu.backend).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    const wasm = await initBackend({ backend: "wasm", env: { SFTKIT_BACKEND: "cpu" } });
    expect(wasm.backend).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
  });

  it("rejects unknown names and an unavailable tensorflow backend clearly", async () => {
    await expect(initBackend({ env: { SFTKIT_BACKEND: "gpu" } })).rejects.toThrow(
      /SFTKIT_BACKEND: unknown backend "gpu"/,
    );
    await expect(initBackend({ backend: "tensorflow" })).rejects.toThrow(/tfjs-node/);
    expect(tf.getBackend()).toBe("wasm");
  });

  it("describes the kernels", () => {
    const k = describeKernels("wasm");
    expect(k.map((x) => x.op)).toEqual(
      expect.arrayContaining(["linear", "embedding", "cross_entropy", "attention"]),
    );
    expect(k.find((x) => x.op === "linear")?.formulation).toMatch(/XNNPACK/);
  });
});
