// LoRA on a tiny random phi3 checkpoint with the real Phi-3-mini tokenizer and chat template, through the
// loop: the loss falls, the PEFT adapter has phi3's module names and fused shapes, it reloads onto the base,
// and the merged model (fused weights, every key of the base config.json) equals base + adapter.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { exportRecipe } from "../export/export.ts";
import { applyAdapter } from "../methods/load.ts";
import { padRows } from "../model/batch.ts";
import { loadModel, type Model } from "../model/llama.ts";
import { phi3Json, phi4MiniJson, writePhi3 } from "../model/phi3.testing.ts";
import { SafetensorsFile } from "../model/safetensors.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../testing/fixtures.ts";
import { chatData, compileTest, testRecipe } from "./fixtures.testing.ts";
import { train } from "./loop.ts";

const shapes = async (file: string): Promise<Map<string, number[]>> => {
  const st = await SafetensorsFile.open(file);
  try {
    return new Map([...st.tensors].map(([n, t]) => [n, t.shape]));
  } finally {
    await st.close();
  }
};

async function logits(m: Model, ids: number[], hooks?: object): Promise<Float32Array> {
  const t = m.logitsTensor(padRows([ids]), { hooks: hooks as never });
  const d = (await t.data()) as Float32Array;
  t.dispose();
  return d;
}

const maxDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

// Phi-3-mini's vocabulary and special ids (its config.json: bos 1, eos and pad 32000).
const json = phi3Json({ vocab_size: 32064, bos_token_id: 1, eos_token_id: 32000, pad_token_id: 32000 });

describe.skipIf(!hasSharedFixtures)(
  `phi3 LoRA end to end${hasSharedFixtures ? "" : ` (${sharedFixturesSkipReason})`}`,
  () => {
    let base = "";
    beforeAll(async () => {
      base = mkdtempSync(join(tmpdir(), "sft-phi3-base-"));
      await writePhi3(base, json, { seed: 11, std: 0.2 });
      for (const f of ["tokenizer.json", "tokenizer_config.json"])
        copyFileSync(fixture("tokenizers", "phi-3-mini", f), join(base, f));
    });

    it("trains, writes PEFT's phi3 adapter, reloads it, and merges to base + adapter", async () => {
      const steps = 20;
      const recipe = testRecipe(
        { steps, learningRate: 3e-2, warmupSteps: 2, eval: { maxSamples: 8, every: steps } },
        {
          model: { path: base },
          template: "model",
          method: {
            kind: "lora",
            rank: 4,
            alpha: 8,
            dropout: 0,
            targets: ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
          },
          output: { dir: mkdtempSync(join(tmpdir(), "sft-phi3-out-")), save: "both" },
          acknowledge: ["sft/high-learning-rate"],
        },
      );
      recipe.data.sources.chat!.path = chatData;
      const { plan, compiled } = await compileTest(recipe);
      expect(plan.model.architecture).toBe("phi3");
      // Native computes phi3 (fused linears, partial rotary): auto picks it where it is built.
      const nativeBuilt = plan.engine?.available.find((e) => e.name === "native")?.available ?? false;
      expect(plan.engine?.chosen).toBe(nativeBuilt ? "native" : "tfjs");
      const run = await train(plan, { compiled, progress: "off", samples: 1, handleSigint: false });
      expect(run.evalLoss!).toBeLessThan(run.initialEvalLoss! * 0.85);
      // A greedy sample through the KV cache, prompted with Phi-3's own template.
      expect(run.samples).toHaveLength(1);
      expect(run.samples[0]!.prompt).toContain("<|user|>");

      const out = plan.output.dir;
      const adapterConfig = JSON.parse(readFileSync(join(out, "adapter", "adapter_config.json"), "utf8"));
      expect([...adapterConfig.target_modules].sort()).toEqual([
        "down_proj",
        "gate_up_proj",
        "o_proj",
        "qkv_proj",
      ]);
      // PEFT's names and shapes: one lora_A [r, in] and one lora_B [fused out, r] per fused linear.
      const adapter = await shapes(join(out, "adapter", "adapter_model.safetensors"));
      const p = "base_model.model.model.layers.1";
      expect(adapter.get(`${p}.self_attn.qkv_proj.lora_A.weight`)).toEqual([4, 32]);
      expect(adapter.get(`${p}.self_attn.qkv_proj.lora_B.weight`)).toEqual([32 + 2 * 16, 4]);
      expect(adapter.get(`${p}.mlp.gate_up_proj.lora_A.weight`)).toEqual([4, 32]);
      expect(adapter.get(`${p}.mlp.gate_up_proj.lora_B.weight`)).toEqual([2 * 48, 4]);
      expect(adapter.get(`${p}.mlp.down_proj.lora_B.weight`)).toEqual([32, 4]);
      expect(adapter.size).toBe(2 * 4 * 2);

      // The merged model: fused weights as stored, every key of the base config.json kept.
      const merged = await shapes(join(out, "model", "model.safetensors"));
      expect(merged.get("model.layers.0.self_attn.qkv_proj.weight")).toEqual([64, 32]);
      expect(merged.get("model.layers.0.mlp.gate_up_proj.weight")).toEqual([96, 32]);
      const mergedConfig = JSON.parse(readFileSync(join(out, "model", "config.json"), "utf8"));
      for (const key of Object.keys(json)) expect(mergedConfig).toHaveProperty(key);
      expect(mergedConfig).toMatchObject({
        resid_pdrop: 0,
        sliding_window: 262144,
        partial_rotary_factor: 0.75,
      });

      // base + adapter (reloaded from its files) = the merged model, and differs from the base.
      const ids = [1, 32010, 450, 4996, 32007, 32001, 306, 626, 32007];
      const baseModel = await loadModel(base);
      const before = await logits(baseModel, ids);
      const applied = await applyAdapter(baseModel, join(out, "adapter"));
      const viaAdapter = await logits(baseModel, ids, applied.hooks);
      const mergedModel = await loadModel(join(out, "model"));
      expect(maxDiff(await logits(mergedModel, ids), viaAdapter)).toBeLessThan(1e-4);
      expect(maxDiff(before, viaAdapter)).toBeGreaterThan(1e-3);
      applied.dispose();
      baseModel.dispose();
      mergedModel.dispose();

      // Axolotl and TRL get the same module names.
      for (const target of ["axolotl", "trl"] as const) {
        const dir = mkdtempSync(join(tmpdir(), `sft-phi3-${target}-`));
        const r = await exportRecipe(recipe, { target, out: dir });
        expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
        const text = r.files
          .filter((f) => /\.(ya?ml|py|sh)$/.test(f))
          .map((f) => readFileSync(join(dir, f), "utf8"))
          .join("\n");
        expect(text).toMatch(/qkv_proj[\s\S]*gate_up_proj|gate_up_proj[\s\S]*qkv_proj/);
        expect(text).not.toMatch(/\b(q_proj|gate_proj|up_proj)\b/);
      }
    }, 300_000);

    // The other methods on the same checkpoint: a few steps each, through the loop, writing their artefacts.
    const others: [string, RecipeInput["method"]][] = [
      ["full", { kind: "full" }],
      ["partial", { kind: "partial", lastLayers: 1, modules: ["gate_up_proj"] }],
      ["qlora", { kind: "qlora", rank: 4, alpha: 8, targets: "all-linear" }],
      ["prefix", { kind: "prefix", virtualTokens: 4 }],
      ["frozen", { kind: "frozen", trainable: { newTokens: true } }],
    ];
    for (const [name, method] of others)
      it(`${name} trains on phi3 and writes its artefacts`, async () => {
        const extra: Partial<RecipeInput> =
          name === "frozen"
            ? { tokens: { add: ["<|tool|>"] }, acknowledge: ["sft/token-not-in-template"] }
            : {};
        const recipe = testRecipe(
          { steps: 2, learningRate: 1e-3, eval: { maxSamples: 2, every: 2 } },
          {
            model: { path: base },
            template: "model",
            method,
            output: { dir: mkdtempSync(join(tmpdir(), `sft-phi3-${name}-`)), save: "both" },
            ...extra,
          },
        );
        const { plan, compiled } = await compileTest(recipe);
        const run = await train(plan, { compiled, progress: "off", samples: 0, handleSigint: false });
        expect(run.steps).toBe(2);
        expect(Number.isFinite(run.loss)).toBe(true);
        if (name === "qlora") {
          const adapter = await shapes(join(plan.output.dir, "adapter", "adapter_model.safetensors"));
          expect(adapter.get("base_model.model.model.layers.0.self_attn.qkv_proj.lora_B.weight")).toEqual([
            64, 4,
          ]);
        }
        if (name !== "prefix") {
          const merged = await shapes(join(plan.output.dir, "model", "model.safetensors"));
          expect(merged.get("model.layers.1.mlp.gate_up_proj.weight")).toEqual([96, 32]);
        }
      }, 120_000);

    it("plans a Phi-4-mini-shaped model (config.json only): 3,836,021,760 parameters, LoRA on the fused linears", async () => {
      const dir = mkdtempSync(join(tmpdir(), "sft-phi4-mini-"));
      writeFileSync(join(dir, "config.json"), JSON.stringify(phi4MiniJson));
      for (const f of ["tokenizer.json", "tokenizer_config.json"])
        copyFileSync(fixture("tokenizers", "phi-3-mini", f), join(dir, f));
      const recipe = testRecipe(
        {},
        {
          model: { path: dir },
          template: "model",
          method: { kind: "lora", rank: 16, targets: "all-linear" },
        },
      );
      const { plan } = await compileTest(recipe);
      // embed 200064 x 3072 + 32 x (qkv 5120x3072 + o 3072x3072 + gate_up 16384x3072 + down 3072x8192 + 2 x 3072) + 3072.
      expect(plan.model.parameters).toBe(3_836_021_760);
      // LoRA r 16 per layer: qkv 16 x (3072 + 5120), o 16 x 6144, gate_up 16 x (3072 + 16384), down 16 x (8192 + 3072).
      const lora = plan.parameterGroups.filter((g) => g.name.startsWith("lora."));
      expect(Object.fromEntries(lora.map((g) => [g.name, g.parameters]))).toEqual({
        "lora.o_proj": 32 * 16 * 6144,
        "lora.qkv_proj": 32 * 16 * 8192,
        "lora.gate_up_proj": 32 * 16 * 19456,
        "lora.down_proj": 32 * 16 * 11264,
      });
      const nativeBuilt = plan.engine?.available.find((e) => e.name === "native")?.available ?? false;
      expect(plan.engine?.chosen).toBe(nativeBuilt ? "native" : "tfjs");
      // What RoPE really runs as: the rope kernels turn whole heads, partial rotary is formulated.
      expect(plan.kernels.find((k) => k.op === "rope")?.formulation).toMatch(
        /^partial rotary \(the first 96 of 128 dimensions per head\): rotate-half as x\*cos/,
      );
    });

    it("refuses targets phi3 does not have, at the recipe's path", async () => {
      const recipe = testRecipe(
        {},
        { model: { path: base }, template: "model", method: { kind: "lora", targets: ["q_proj", "o_proj"] } },
      );
      const { compileRecipe } = await import("../compile/compile.ts");
      const r = await compileRecipe(recipe, { write: false });
      const errors = r.diagnostics.filter((d) => d.severity === "error");
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: "sft/invalid-value" });
      expect(errors[0]!.message).toContain('the phi3 model has no linear "q_proj"');
      expect(JSON.stringify(errors[0])).toContain("qkv_proj, gate_up_proj");
    });
  },
);
