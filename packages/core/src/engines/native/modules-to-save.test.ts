// LoRA's modulesToSave on the native engine: whole embedding / lm_head / norms train beside the adapters
// (float32, AdamW) exactly as on the tfjs engine, and the adapter carries them as PEFT's modules_to_save.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { newToken } from "../../methods/testing.ts";
import { initBackend } from "../../model/backend.ts";
import { randomModel } from "../../model/llama.ts";
import { SafetensorsFile } from "../../model/safetensors.ts";
import { compareEngines, comparePlan, expectResumeIdentical } from "./compare.testing.ts";
import { nativeSkip, smallConfig, tempDir } from "./testing.ts";

const suite = nativeSkip("modules to save on the native engine");

describe.skipIf(suite.skip)(suite.title, () => {
  beforeAll(async () => {
    await initBackend();
  });

  it("LoRA + embed_tokens, lm_head and norms (untied, new tokens): every gradient, the adapter and the merged model equal tfjs's", async () => {
    const added = [newToken("<a>", 300), newToken("<b>", 301, "noise")];
    const method = {
      kind: "lora",
      rank: 4,
      alpha: 8,
      dropout: 0,
      targets: ["q_proj", "down_proj"],
      modulesToSave: ["embed_tokens", "lm_head", "norms"],
    };
    const { native } = await compareEngines(method, { added, artefacts: true });
    const names = native.states[0]!.weights.map((w) => w.name);
    expect(names).toContain("model.embed_tokens.weight");
    expect(names).toContain("lm_head.weight");
    expect(names).toContain("model.norm.weight");
  });

  it("QLoRA + norms and a tied embedding (bf16 checkpoint): the same run and artefacts", async () => {
    const cfg = smallConfig({ tieWordEmbeddings: true });
    const dir = tempDir("mts-bf16");
    const m = randomModel(cfg, { seed: 9 });
    await m.save(dir, { dtype: "BF16" });
    m.dispose();
    const method = {
      kind: "qlora",
      rank: 4,
      alpha: 16,
      dropout: 0.1,
      targets: "all-linear",
      modulesToSave: ["embed_tokens", "norms"],
    };
    await compareEngines(method, { cfg, model: { dir }, artefacts: true });
  });

  it("the adapter lists modules_to_save and holds the whole tensors under PEFT's names; resume is exact", async () => {
    const cfg = smallConfig();
    const method = {
      kind: "lora",
      rank: 4,
      dropout: 0,
      targets: ["v_proj"],
      modulesToSave: ["lm_head", "norms"],
    };
    const dir = tempDir("mts-adapter");
    const { native } = await compareEngines(method, { artefacts: true, saveNativeTo: dir });
    expect(native.artefacts).toContain("adapter/adapter_model.safetensors");
    const config = JSON.parse(readFileSync(join(dir, "adapter", "adapter_config.json"), "utf8"));
    // PEFT matches modules_to_save by suffix: `norm` reaches every *norm module.
    expect([...config.modules_to_save].sort()).toEqual(["lm_head", "norm"]);
    const st = await SafetensorsFile.open(join(dir, "adapter", "adapter_model.safetensors"));
    const whole = [...st.tensors].filter(([n]) => !n.includes("lora_")).map(([n, t]) => [n, t.shape]);
    await st.close();
    const d = cfg.hiddenSize;
    expect(whole).toEqual(
      expect.arrayContaining([
        ["base_model.model.lm_head.weight", [cfg.vocabSize, d]],
        ["base_model.model.model.norm.weight", [d]],
        ["base_model.model.model.layers.1.post_attention_layernorm.weight", [d]],
      ]),
    );
    expect(whole).toHaveLength(1 + 2 * cfg.numLayers + 1);
    await expectResumeIdentical(comparePlan(method), { config: cfg, seed: 5 }, cfg.vocabSize);
  });
});
