import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { initBackend, wasmHeapBytes } from "./backend.ts";
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

  it("measures the wasm heap (it only grows: a tensor's bytes fit in it), and nothing under cpu", async () => {
    await initBackend({ backend: "wasm", env: {} });
    const before = wasmHeapBytes()!;
    const big = tf.zeros([16 * 2 ** 20]); // 64 MiB of float32
    const during = wasmHeapBytes()!;
    big.dispose();
    expect(during).toBeGreaterThanOrEqual(64 * 2 ** 20);
    expect(during).toBeGreaterThanOrEqual(before);
    expect(wasmHeapBytes()).toBe(during);
    await initBackend({ backend: "cpu", env: {} });
    expect(wasmHeapBytes()).toBeNull();
    await initBackend({ backend: "wasm", env: {} });
  });

  it("describes the kernels", () => {
    const k = describeKernels("wasm");
    expect(k.map((x) => x.op)).toEqual(
      expect.arrayContaining(["linear", "embedding", "cross_entropy", "attention"]),
    );
    expect(k.find((x) => x.op === "linear")?.formulation).toMatch(/XNNPACK/);
  });
});

describe("wasm threads in Node", () => {
  it("starts the threaded SIMD binary with workers served from a file (child process)", async () => {
    const { execFile } = await import("node:child_process");
    const { fileURLToPath } = await import("node:url");
    const backendPath = fileURLToPath(new URL("./backend.ts", import.meta.url));
    const script = `
      const { initBackend } = await import(${JSON.stringify(backendPath)});
      const tf = await import("@tensorflow/tfjs-core");
      const info = await initBackend({ backend: "wasm" });
      const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
      const b = tf.tensor2d([1, 0, 0, 1, 1, 1], [3, 2]);
      console.log(JSON.stringify({ info, y: Array.from(tf.matMul(a, b).dataSync()) }));`;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ["--import", "tsx", "--input-type=module", "-e", script],
        {
          cwd: fileURLToPath(new URL(".", import.meta.url)),
          env: { ...process.env, SFTKIT_THREADS: "2" },
          timeout: 60_000,
        },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      );
    });
    const res = JSON.parse(out.trim().split("\n").at(-1)!);
    expect(res.info).toEqual({ backend: "wasm", threads: 2, simd: true });
    expect(res.y).toEqual([4, 5, 10, 11]);
  }, 60_000);
});
