// DoRA and QDoRA on the native engine against the tfjs engine (itself tested against PEFT's formula,
// src/peft/tuners/lora/dora.py v0.20, in methods/methods.test.ts): losses, every gradient (magnitudes
// included), resume, the PEFT adapter (use_dora, lora_magnitude_vector) and the merged model.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../model/backend.ts";
import { randomModel } from "../../model/llama.ts";
import { SafetensorsFile } from "../../model/safetensors.ts";
import { createTfjsEngine } from "../tfjs/engine.ts";
import { compareEngines, comparePlan, expectResumeIdentical } from "./compare.testing.ts";
import { createNativeEngine } from "./engine.ts";
import { nativeSkip, packedBatch, smallConfig, tempDir } from "./testing.ts";

const suite = nativeSkip("DoRA on the native engine");

describe.skipIf(suite.skip)(suite.title, () => {
  beforeAll(async () => {
    await initBackend();
  });

  it("DoRA all-linear (q/k/v biases): losses, every gradient with the magnitudes', adapter and merged model equal tfjs's", async () => {
    const method = { kind: "lora", rank: 4, alpha: 8, dropout: 0, targets: "all-linear", dora: true };
    const dir = tempDir("dora-adapter");
    const { native } = await compareEngines(method, { artefacts: true, saveNativeTo: dir });
    const cfg = smallConfig();
    const names = native.states[0]!.weights.map((w) => w.name);
    expect(names).toContain("model.layers.0.self_attn.q_proj.lora_magnitude_vector");
    expect(names.filter((n) => n.endsWith("lora_magnitude_vector"))).toHaveLength(7 * cfg.numLayers);
    // The adapter as PEFT writes a DoRA one: use_dora, a magnitude [out] per adapted linear.
    const config = JSON.parse(readFileSync(join(dir, "adapter", "adapter_config.json"), "utf8"));
    expect(config.use_dora).toBe(true);
    const st = await SafetensorsFile.open(join(dir, "adapter", "adapter_model.safetensors"));
    expect(st.info("base_model.model.model.layers.1.mlp.down_proj.lora_magnitude_vector").shape).toEqual([
      cfg.hiddenSize,
    ]);
    await st.close();
  });

  it("DoRA with dropout and per-layer recomputation (the masks replay; x_d·Wᵀ recomputed under the mask)", async () => {
    await compareEngines(
      {
        kind: "lora",
        rank: 4,
        alpha: 16,
        dropout: 0.2,
        targets: ["q_proj", "v_proj", "o_proj", "up_proj"],
        dora: true,
      },
      { recompute: true, artefacts: true },
    );
  });

  it("DoRA + LoRA+ (magnitudes in B's learning-rate group) over a bf16 checkpoint", async () => {
    const cfg = smallConfig();
    const dir = tempDir("dora-bf16");
    const m = randomModel(cfg, { seed: 9 });
    await m.save(dir, { dtype: "BF16" });
    m.dispose();
    const plan = {
      optimizer: {
        kind: "adamw",
        betas: [0.9, 0.999],
        eps: 1,
        weightDecay: 0.01,
        groups: [
          { name: "LoRA+", pattern: "\\.lora_(B|magnitude_vector)$", learningRateRatio: 4, learningRate: 2 },
        ],
      },
    } as never;
    await compareEngines(
      { kind: "lora", rank: 4, alpha: 8, dropout: 0, targets: "all-linear", dora: true, loraPlusRatio: 4 },
      { model: { dir }, plan, artefacts: true },
    );
  });

  it("QDoRA: DoRA over the NF4 base (normalising the dequantized weight), with dropout", async () => {
    await compareEngines(
      {
        kind: "qlora",
        rank: 4,
        alpha: 16,
        dropout: 0.1,
        targets: ["q_proj", "v_proj", "down_proj"],
        dora: true,
      },
      { artefacts: true },
    );
  });

  it("greedy generation after training (cached row norms, renewed after each step) equals the tfjs engine's", async () => {
    const cfg = smallConfig();
    const dir = tempDir("dora-gen");
    const m = randomModel(cfg, { seed: 4, std: 0.3 });
    await m.save(dir);
    m.dispose();
    const plan = comparePlan({
      kind: "lora",
      rank: 4,
      alpha: 8,
      dropout: 0,
      targets: "all-linear",
      dora: true,
    });
    const batch = packedBatch(1, cfg.vocabSize);
    const out: number[][][] = [];
    for (const create of [createTfjsEngine, createNativeEngine]) {
      const e = await create(plan);
      await e.load({ plan, model: { dir } });
      const ids: number[][] = [];
      for (let step = 0; step < 2; step++) {
        const r = await e.forwardBackward(batch, { seed: step });
        await e.applyStep({ learningRate: 0.5, clipNorm: 0, trainedTokens: r.trainedTokens });
        ids.push((await e.generate([1, 17, 42, 99], { maxNewTokens: 10 })).ids);
      }
      e.dispose();
      out.push(ids);
    }
    expect(out[1]).toEqual(out[0]);
    // The steps changed what it generates (so the second step's norms were not the first's).
    expect(out[0]![1]).not.toEqual(out[0]![0]);
  });

  it("a checkpointed DoRA run resumes exactly", async () => {
    const cfg = smallConfig();
    const plan = comparePlan({
      kind: "lora",
      rank: 4,
      alpha: 8,
      dropout: 0.1,
      targets: "all-linear",
      dora: true,
    });
    await expectResumeIdentical(plan, { config: cfg, seed: 5 }, cfg.vocabSize);
  });
});
