import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RecipeError } from "../recipe/diagnostics.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { compile, compileRecipe, readPlan } from "./compile.ts";
import { PlanSchema } from "./plan-schema.ts";

const repo = join(import.meta.dirname, "../../../..");
const model = join(repo, "examples/models/stories260K");
const data = join(repo, "examples/quickstart/data/chat.jsonl");

function recipe(method: RecipeInput["method"], extra: Record<string, unknown> = {}): RecipeInput {
  return {
    name: `t-${method.kind}`,
    model: { path: model },
    template: "llama-2",
    data: { sources: { chat: { path: data, format: "messages", eval: 0.1 } } },
    method,
    output: { dir: mkdtempSync(join(tmpdir(), "sft-plan-")) },
    ...extra,
  };
}

describe("compile → Plan", () => {
  it("round-trips through its schema and is written atomically to the output folder", async () => {
    const r = recipe({ kind: "lora", rank: 4 });
    const plan = await compile(r);
    const written = JSON.parse(readFileSync(join(plan.output.dir, "plan.json"), "utf8"));
    expect(readPlan(written)).toEqual(plan);
    expect(PlanSchema.parse(JSON.parse(JSON.stringify(plan)))).toEqual(plan);
    expect(
      JSON.parse(readFileSync(join(plan.output.dir, "recipe.resolved.json"), "utf8")).method,
    ).toMatchObject({ kind: "lora", rank: 4 });
    expect(() => readPlan({ ...written, version: 2 })).toThrow();
  });

  it("holds the model facts of the real checkpoint", async () => {
    const plan = await compile(recipe({ kind: "full" }), { write: false });
    expect(plan.model).toMatchObject({
      architecture: "llama",
      parameters: 260_032,
      layers: 5,
      vocab: { model: 512, tokenizer: 512, added: 0, total: 512 },
      config: { hiddenSize: 64, numHeads: 8, numKvHeads: 4, headDim: 8, tieWordEmbeddings: true },
    });
    expect(plan.parameters).toMatchObject({ total: 260_032, trainable: 260_032, frozen: 0 });
    expect(plan.optimizer.learningRate).toBe(2e-5);
  });

  it("counts trainable, frozen and quantized parameters per method", async () => {
    const lora = await compile(recipe({ kind: "lora", rank: 8, targets: ["q_proj", "v_proj"] }), {
      write: false,
    });
    // q: 64→64, v: 64→32 per layer; A [r,in] + B [out,r]
    expect(lora.parameters.trainable).toBe(5 * 8 * (64 + 64 + 64 + 32));
    expect(lora.parameters.frozen).toBe(260_032);

    const qlora = await compile(recipe({ kind: "qlora", rank: 8, targets: "all-linear" }), { write: false });
    const linear = 5 * (64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 172);
    expect(qlora.parameters.quantized).toBe(linear);
    const nf4 = qlora.parameterGroups.filter((g) => g.dtype === "nf4");
    const bytesPerParam = nf4.reduce((a, g) => a + g.bytes, 0) / linear;
    expect(bytesPerParam).toBeGreaterThan(0.5);
    expect(bytesPerParam).toBeLessThan(0.53);

    const partial = await compile(recipe({ kind: "partial", lastLayers: 2 }), { write: false });
    const perLayer = 2 * 64 + 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 172;
    expect(partial.parameters.trainable).toBe(2 * perLayer);

    const prefix = await compile(recipe({ kind: "prefix", virtualTokens: 10 }), { write: false });
    // P-tuning v2: [virtual tokens, layers * 2 * head_dim * kv_heads]
    expect(prefix.parameters.trainable).toBe(10 * 5 * 2 * 8 * 4);
  });

  it("grows the vocabulary for added tokens and trains only their rows when frozen", async () => {
    const plan = await compile(
      recipe({ kind: "frozen" }, { tokens: { add: ["<|a|>", "<|b|>"], eos: "<|b|>" } }),
      { write: false },
    );
    expect(plan.model.vocab).toEqual({ model: 512, tokenizer: 512, added: 2, total: 514 });
    expect(plan.tokenizer.added.map((t) => [t.content, t.id])).toEqual([
      ["<|a|>", 512],
      ["<|b|>", 513],
    ]);
    expect(plan.tokenizer.eos).toEqual({ text: "<|b|>", id: 513 });
    expect(plan.parameters.trainable).toBe(2 * 64); // tied embeddings: rows of the embedding only
  });

  it("makes an eos override the token the template emits and the labels train", async () => {
    const r = recipe(
      { kind: "lora" },
      { template: "llama-2", tokens: { add: ["<|stop|>"], eos: "<|stop|>" } },
    );
    const result = await compileRecipe(r, { write: false });
    expect(result.plan!.tokenizer.eos).toEqual({ text: "<|stop|>", id: 512 });
    const sample = result.data!.prepared!.train.chat![0]!;
    expect(sample.inputIds.at(-1)).toBe(512);
    expect(sample.labels.at(-1)).toBe(512);
    expect(sample.inputIds).not.toContain(2); // the checkpoint's own </s> is gone
  });

  it("plans data, batches and the optimizer schedule from the real rows", async () => {
    const plan = await compile(
      recipe(
        { kind: "lora" },
        { train: { epochs: 2, tokensPerMicroBatch: 1024, gradientAccumulation: 2, maxLength: 96 } },
      ),
      {
        write: false,
      },
    );
    const [source] = plan.data.sources;
    // llama-2's [INST] markers are plain text to this 512-token vocabulary, so a few rows exceed 96 tokens and drop.
    expect(source).toMatchObject({ name: "chat", rows: 300, weight: 1 });
    expect(source!.overLength).toBeGreaterThan(0);
    expect(source!.trainRows! + source!.evalRows! + source!.overLength).toBe(300);
    expect(source!.evalRows).toBeGreaterThanOrEqual(28);
    expect(source!.samplesPerEpoch).toBe(source!.trainRows);
    expect(plan.data.samplesPerEpoch).toBe(source!.trainRows);
    expect(source!.trainedTokens!).toBeLessThan(source!.tokens!);
    expect(plan.batching.microBatchesPerEpoch).toBeGreaterThan(0);
    expect(plan.batching.paddingFraction!).toBeLessThan(0.03);
    expect(plan.optimizer.stepsPerEpoch).toBe(Math.ceil(plan.batching.microBatchesPerEpoch! / 2));
    expect(plan.optimizer.schedule.totalSteps).toBe(2 * plan.optimizer.stepsPerEpoch!);
    expect(plan.optimizer.schedule.warmupSteps).toBe(Math.round(0.03 * plan.optimizer.schedule.totalSteps!));
  });

  it("estimates memory: AdamW state is twice the trainable weights, and a huge batch does not fit wasm", async () => {
    const plan = await compile(recipe({ kind: "full" }), { write: false });
    expect(plan.memory.optimizerState).toBe(2 * plan.memory.gradients);
    expect(plan.memory.gradients).toBe(260_032 * 4);
    expect(plan.memory.fits).toBe(true);
    const big = await compile(
      recipe({ kind: "full" }, { train: { tokensPerMicroBatch: 4_000_000, maxLength: 512 } }),
      {
        write: false,
      },
    );
    expect(big.memory.peak).toBeGreaterThan(big.memory.device.bytes);
    expect(big.memory.fits).toBe(false);
    const bigResult = await compileRecipe(
      recipe({ kind: "full" }, { train: { tokensPerMicroBatch: 4_000_000, maxLength: 512 } }),
      {
        write: false,
      },
    );
    expect(bigResult.diagnostics.map((d) => d.code)).toContain("sft/memory-exceeds-device");
    const ckpt = await compile(recipe({ kind: "full" }, { train: { gradientCheckpointing: true } }), {
      write: false,
    });
    expect(ckpt.memory.activationsPerToken).toBeLessThan(plan.memory.activationsPerToken);
  });

  it("plans the engine that runs it: bytes per parameter per group, the native engine's device where it is chosen", async () => {
    const plan = await compile(recipe({ kind: "qlora", rank: 4 }), { write: false });
    // Bytes are rounded per tensor.
    for (const g of plan.parameterGroups)
      expect(Math.abs(g.bytes - g.parameters * g.bytesPerParameter!)).toBeLessThanOrEqual(g.tensors);
    expect(plan.parameterGroups.find((g) => g.role === "quantized")?.bytesPerParameter).toBeCloseTo(
      0.5 + 1 / 64 + 4 / (64 * 256),
      9,
    );
    const native = plan.engine?.available.find((e) => e.name === "native");
    if (plan.engine?.chosen === "native") {
      expect(plan.memory.device.backend).toBe("native");
      expect(plan.memory.device.bytes).toBeGreaterThan(0.8 * totalmem());
      expect(plan.gpu).toBeUndefined();
    } else expect(native?.available ?? false).toBe(false);
    // A GPU backend is tfjs's: auto passes native by and says why.
    const gpu = await compile(
      recipe({ kind: "lora", rank: 4 }, { train: { engine: "auto", backend: "tensorflow" } }),
      {
        write: false,
      },
    );
    expect(gpu.engine?.chosen).toBe("tfjs");
    if (native?.available)
      expect(gpu.engine?.reason).toContain('native cannot: the tfjs backend "tensorflow"');
  });

  it("runs DoRA on the native engine where that is built; the lora group counts the magnitudes", async () => {
    const dora = await compile(recipe({ kind: "lora", rank: 4, dora: true }), { write: false });
    const native = dora.engine?.available.find((e) => e.name === "native")?.available ?? false;
    expect(dora.engine?.chosen).toBe(native ? "native" : "tfjs");
    // The lora group counts each magnitude vector: one [out] per adapted linear and layer.
    const plain = await compile(recipe({ kind: "lora", rank: 4 }), { write: false });
    const params = (p: typeof plain) =>
      p.parameterGroups.filter((g) => g.name.startsWith("lora.")).reduce((a, g) => a + g.parameters, 0);
    const cfg = plain.model.config;
    const outs = 2 * cfg.hiddenSize + 2 * cfg.numKvHeads * cfg.headDim;
    expect(params(dora) - params(plain)).toBe(cfg.numLayers * outs);
  });

  it("LoRA+: the plan lists B's (and DoRA magnitudes') learning-rate group; without it, no groups", async () => {
    const plus = await compile(
      recipe({ kind: "qlora", rank: 4, loraPlusRatio: 16 }, { train: { learningRate: 1e-4 } }),
      { write: false },
    );
    expect(plus.optimizer.learningRate).toBe(1e-4);
    expect(plus.optimizer.groups).toEqual([
      {
        name: "LoRA+ (lora_B, DoRA magnitudes)",
        pattern: "\\.lora_(B|magnitude_vector)$",
        learningRateRatio: 16,
        learningRate: 16e-4,
      },
    ]);
    const plain = await compile(recipe({ kind: "lora", rank: 4 }), { write: false });
    expect(plain.optimizer.groups).toBeUndefined();
  });

  it("modules to save: the plan trains those tensors whole and counts them", async () => {
    const plain = await compile(recipe({ kind: "lora", rank: 4 }), { write: false });
    const mts = await compile(recipe({ kind: "lora", rank: 4, modulesToSave: ["embed_tokens", "norms"] }), {
      write: false,
    });
    const trainable = (p: typeof plain) =>
      p.parameterGroups.filter((g) => g.role === "trainable").reduce((a, g) => a + g.parameters, 0);
    const cfg = plain.model.config;
    const norms = (2 * cfg.numLayers + 1) * cfg.hiddenSize;
    const embed = plain.model.vocab.total * cfg.hiddenSize;
    expect(trainable(mts) - trainable(plain)).toBe(embed + norms);
    expect(mts.parameterGroups.find((g) => g.name === "model.embed_tokens")?.role).toBe("trainable");
    expect(mts.memory.optimizerState).toBeGreaterThan(plain.memory.optimizerState);
    // Auto runs it on the native engine where that is built (it trains and saves whole modules too).
    const native = mts.engine?.available.find((e) => e.name === "native")?.available ?? false;
    expect(mts.engine?.chosen).toBe(native ? "native" : "tfjs");
  });

  it("resolves a hub id offline from the local Hugging Face cache", async () => {
    const cache = mkdtempSync(join(tmpdir(), "sft-hf-"));
    const repoDir = join(cache, "models--karpathy--stories260K");
    mkdirSync(join(repoDir, "refs"), { recursive: true });
    cpSync(model, join(repoDir, "snapshots", "abc123"), { recursive: true });
    writeFileSync(join(repoDir, "refs", "main"), "abc123");
    const saved = process.env.HF_HUB_CACHE;
    process.env.HF_HUB_CACHE = cache;
    try {
      const r = { ...recipe({ kind: "lora" }), model: { hub: "karpathy/stories260K" } };
      const plan = await compile(r, { write: false });
      expect(plan.model.source).toEqual({
        kind: "hub",
        path: join(repoDir, "snapshots", "abc123"),
        hub: "karpathy/stories260K",
        revision: "abc123",
      });
      const missing = await compileRecipe({ ...r, model: { hub: "karpathy/nope" } }, { write: false });
      expect(missing.diagnostics).toContainEqual(
        expect.objectContaining({ code: "sft/model-not-found", path: ["model", "hub"] }),
      );
    } finally {
      if (saved === undefined) delete process.env.HF_HUB_CACHE;
      else process.env.HF_HUB_CACHE = saved;
    }
  });

  it("throws a RecipeError with every diagnostic on a bad recipe object", async () => {
    const bad = { model: { path: model }, data: { sources: {} }, method: { kind: "full", rank: 1 } };
    await expect(compile(bad)).rejects.toBeInstanceOf(RecipeError);
    const result = await compileRecipe(bad);
    expect(result.diagnostics.map((d) => d.code).sort()).toEqual(["sft/invalid", "sft/unknown-key"]);
  });

  it("leaves acknowledged warnings out of the diagnostics but records them in the plan", async () => {
    const r = recipe({ kind: "lora" }, { train: { eos: "none" }, acknowledge: ["sft/eos-not-trained"] });
    const result = await compileRecipe(r, { write: false });
    expect(result.diagnostics.map((d) => d.code)).not.toContain("sft/eos-not-trained");
    expect(result.plan!.warnings).toContainEqual(
      expect.objectContaining({ id: "sft/eos-not-trained", acknowledged: true }),
    );
  });
});
