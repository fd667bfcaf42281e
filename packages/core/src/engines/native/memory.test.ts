import { execFileSync } from "node:child_process";
import { totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { estimateMemory, WASM_MAX_BYTES } from "../../compile/memory.ts";
import { nf4BytesPerParam, planParameters } from "../../compile/params.ts";
import type { ParameterGroup } from "../../compile/plan-schema.ts";
import { type Method, MethodSchema } from "../../methods/registry.ts";
import { linearModules, type ModelConfig } from "../../model/config.ts";
import { tinyConfig } from "../../model/tiny.ts";
import { machineMargin, NATIVE_RUNTIME_BYTES, nativeMemoryModel } from "./memory.ts";

/** Qwen2.5-0.5B's shape. */
const qwen = (torchDtype: ModelConfig["torchDtype"]) =>
  tinyConfig("qwen2", {
    vocabSize: 151936,
    hiddenSize: 896,
    intermediateSize: 4864,
    numLayers: 24,
    numHeads: 14,
    numKvHeads: 2,
    headDim: 64,
    maxPositionEmbeddings: 32768,
    tieWordEmbeddings: true,
    torchDtype,
  });

const groupsOf = (cfg: ModelConfig, method: Method) =>
  planParameters(cfg, cfg.vocabSize, 0, method, nativeMemoryModel.frozenStorage).groups;

const lora = MethodSchema.parse({ kind: "lora", targets: "all-linear" });
const qlora = MethodSchema.parse({ kind: "qlora", targets: "all-linear" });

function estimate(cfg: ModelConfig, method: Method, B: number, S: number, recompute = false) {
  return estimateMemory({
    cfg,
    vocab: cfg.vocabSize,
    groups: groupsOf(cfg, method),
    method,
    tokensPerMicroBatch: B * S,
    sequenceLength: S,
    gradientCheckpointing: recompute,
    device: nativeMemoryModel.device(),
    engine: nativeMemoryModel,
    threads: 2,
  });
}

const byRole = (groups: ParameterGroup[], role: ParameterGroup["role"]) =>
  groups.filter((g) => g.role === role);

describe("the native engine's memory model", () => {
  it("stores frozen matrices at the checkpoint's dtype (bf16/f16: 2 B, f32 stays 4 B); norms, biases and trainables f32", () => {
    for (const [dtype, bytes] of [
      ["bfloat16", 2],
      ["float16", 2],
      ["float32", 4],
    ] as const) {
      const groups = groupsOf(qwen(dtype), lora);
      const embed = groups.find((g) => g.name === "model.embed_tokens")!;
      expect(embed).toMatchObject({ role: "frozen", dtype, bytesPerParameter: bytes });
      expect(embed.bytes).toBe(151936 * 896 * bytes);
      for (const g of byRole(groups, "frozen"))
        if (g.name.includes("norm") || g.name.endsWith("(bias)"))
          expect(g).toMatchObject({ dtype: "float32", bytesPerParameter: 4 });
      for (const g of byRole(groups, "trainable"))
        expect(g).toMatchObject({ dtype: "float32", bytesPerParameter: 4 });
      // Weights in the estimate are the groups' bytes.
      const m = estimate(qwen(dtype), lora, 1, 512);
      const sum = groups.reduce((a, g) => a + g.bytes, 0);
      expect(Object.values(m.weights).reduce((a, b) => a + b, 0)).toBe(sum);
    }
    // The tfjs engine (no storage function) keeps everything float32.
    const tfjs = planParameters(qwen("bfloat16"), 151936, 0, lora).groups;
    for (const g of tfjs) expect(g).toMatchObject({ dtype: "float32", bytesPerParameter: 4 });
  });

  it("QLoRA's base linears are NF4: 0.5 B per parameter plus the double-quantized absmax", () => {
    const groups = groupsOf(qwen("bfloat16"), qlora);
    const q = byRole(groups, "quantized");
    expect(q.length).toBe(7);
    const perParam = 0.5 + 1 / 64 + 4 / (64 * 256);
    expect(nf4BytesPerParam(64, true)).toBeCloseTo(perParam, 12);
    for (const g of q) {
      expect(g.dtype).toBe("nf4");
      expect(g.bytesPerParameter).toBeCloseTo(perParam, 12);
      expect(g.bytes / g.parameters).toBeCloseTo(perParam, 6);
    }
    // The embedding stays bf16 beside it; gradients and moments are f32 for the adapters only.
    expect(groups.find((g) => g.name === "model.embed_tokens")).toMatchObject({ dtype: "bfloat16" });
    const m = estimate(qwen("bfloat16"), qlora, 1, 512);
    const trainable = byRole(groups, "trainable").reduce((a, g) => a + g.parameters, 0);
    expect(m.gradients).toBe(4 * trainable);
    expect(m.optimizerState).toBe(8 * trainable);
  });

  it("activations grow linearly in the sequence (flash attention keeps no T x T); the tfjs model's do not", () => {
    const cfg = qwen("bfloat16");
    const at = (S: number) => estimate(cfg, lora, 1, S).activations;
    expect(at(8192) / at(1024)).toBeCloseTo(8, 2);
    expect(at(2048) / at(1024)).toBeCloseTo(2, 2);
    // Recomputation keeps each layer's input only: well under half.
    expect(estimate(cfg, lora, 1, 2048, true).activations).toBeLessThan(0.25 * at(2048));
    // The same batch as tfjs models it: quadratic attention probabilities.
    const groups = planParameters(cfg, cfg.vocabSize, 0, lora).groups;
    const tfjsAt = (S: number) =>
      estimateMemory({
        cfg,
        vocab: cfg.vocabSize,
        groups,
        method: lora,
        tokensPerMicroBatch: S,
        sequenceLength: S,
        gradientCheckpointing: false,
        device: { backend: "wasm", bytes: WASM_MAX_BYTES, note: "" },
      }).activations;
    expect(tfjsAt(8192) / tfjsAt(1024)).toBeGreaterThan(12);
  });

  it("counts what q/k norms and sandwich norms keep per token and layer (model.ts LayerSaved)", () => {
    const plain = qwen("bfloat16");
    const T = 512;
    const at = (over: Partial<ModelConfig>) => estimate({ ...plain, ...over }, lora, 1, T).activations;
    const q = plain.numHeads * plain.headDim;
    const kv = plain.numKvHeads * plain.headDim;
    const base = at({});
    // Kept per layer: q and k before their norms and 1/rms per head; backward: their gradients.
    const qk = at({ qkNorm: true }) - base;
    const perToken = 4 * (plain.numLayers * (q + kv + plain.numHeads + plain.numKvHeads) + (q + kv));
    expect(qk).toBe(Math.round(T * perToken));
    // Kept: o_proj's and down_proj's outputs and their 1/rms; backward: the two gradients through the norms.
    const sandwich = at({ sandwichNorms: true }) - base;
    const d = plain.hiddenSize;
    expect(sandwich).toBe(Math.round(T * 4 * (plain.numLayers * (2 * d + 2) + 2 * d)));
  });

  it("DoRA adds its kept z [out] per adapted linear and layer, two [T, out] in backward, and one linear's float32 W + s·B·A", () => {
    const cfg = qwen("bfloat16");
    const dora = MethodSchema.parse({ kind: "lora", targets: "all-linear", dora: true });
    const T = 2 * 512;
    const [a, b] = [estimate(cfg, lora, 2, 512), estimate(cfg, dora, 2, 512)];
    const outs = linearModules(cfg).map((m) => m.outFeatures);
    const sumOut = outs.reduce((x, y) => x + y, 0);
    expect(sumOut).toBe(896 + 128 + 128 + 896 + 4864 + 4864 + 896);
    expect(b.activations - a.activations).toBe(4 * T * (cfg.numLayers * sumOut + 2 * 4864));
    expect(b.scratch! - a.scratch!).toBe(4 * 4864 * 896);
    // The magnitudes are trainable parameters: their gradients and moments.
    expect(b.gradients - a.gradients).toBe(4 * cfg.numLayers * sumOut);
    // Recomputation keeps one layer's z, not every layer's.
    const [ra, rb] = [estimate(cfg, lora, 2, 512, true), estimate(cfg, dora, 2, 512, true)];
    expect(rb.activations - ra.activations).toBe(4 * T * (sumOut + 2 * 4864));
  });

  it("fills the machine's memory less a margin, not the 4 GiB wasm heap", () => {
    const d = nativeMemoryModel.device();
    expect(d.bytes).toBe(totalmem() - machineMargin(totalmem()));
    expect(machineMargin(64 * 1024 ** 3)).toBe(Math.round(6.4 * 1024 ** 3));
    expect(machineMargin(4 * 1024 ** 3)).toBe(1024 ** 3);
    // A 0.5B LoRA step at 4 x 512, over the wasm heap as tfjs plans it, fits a 24 GiB machine natively.
    expect(estimate(qwen("bfloat16"), lora, 4, 512).peak).toBeLessThan(12 * 1024 ** 3);
  });
});

describe("the native engine's runtime figure", () => {
  it("covers what the process holds before any model: Node with the core's modules, loaded as sft loads them", () => {
    const core = fileURLToPath(new URL("../../index.ts", import.meta.url));
    const script = `await import(${JSON.stringify(core)}); console.log(process.memoryUsage().rss);`;
    const rss = Number(
      execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        cwd: fileURLToPath(new URL(".", import.meta.url)),
        encoding: "utf8",
        timeout: 120_000,
      }).trim(),
    );
    expect(rss).toBeGreaterThan(50 * 2 ** 20);
    // The figure leaves room for OpenBLAS's buffers and the heap's garbage on top (see memory.ts).
    expect(NATIVE_RUNTIME_BYTES).toBeGreaterThan(rss);
  });
});
