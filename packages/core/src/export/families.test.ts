// Axolotl and TRL exports of a qwen3 and a gemma2 model: the family's PEFT module names and decoder layer class.
import { cpSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeRandomCheckpoint } from "../testing/random-checkpoint.ts";
import { exportRecipe } from "./export.ts";
import { type Overrides, recipeFor, repo, writeData } from "./testing.ts";
import { parseYaml, type YamlValue } from "./yaml.ts";

let data: ReturnType<typeof writeData>;
beforeAll(() => {
  data = writeData();
});
afterAll(() => rmSync(data.dir, { recursive: true, force: true }));

const stories = join(repo, "examples/models/stories260K");
const small = {
  vocab_size: 512,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
};

const asMap = (v: YamlValue | undefined): Record<string, YamlValue> =>
  v && typeof v === "object" && !Array.isArray(v) ? v : {};

describe.each([
  ["qwen3", "Qwen3DecoderLayer"],
  ["gemma2", "Gemma2DecoderLayer"],
  ["gemma3_text", "Gemma3DecoderLayer"],
])("%s exports", (modelType, layerClass) => {
  it("name the LoRA targets as PEFT does and wrap the family's decoder layer", async () => {
    const modelPath = join(data.dir, `model-${modelType}`);
    await writeRandomCheckpoint(modelPath, { ...small, model_type: modelType });
    for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"])
      cpSync(join(stories, f), join(modelPath, f));
    const over: Overrides = {
      modelPath,
      method: { kind: "lora", rank: 4, targets: ["q_proj", "o_proj", "down_proj"] },
      scale: { strategy: "fsdp", gpusPerNode: 2 },
    };
    const axOut = join(data.dir, `ax-${modelType}`);
    const ax = await exportRecipe(recipeFor(data, over), { target: "axolotl", out: axOut });
    expect(ax.ok, ax.diagnostics.map((d) => d.message).join("\n")).toBe(true);
    const yaml = asMap(parseYaml(readFileSync(join(axOut, "axolotl.yaml"), "utf8")));
    expect(yaml.lora_target_modules).toEqual(["q_proj", "o_proj", "down_proj"]);
    expect(asMap(yaml.fsdp_config).transformer_layer_cls_to_wrap).toBe(layerClass);
    const trlOut = join(data.dir, `trl-${modelType}`);
    const trl = await exportRecipe(recipeFor(data, over), { target: "trl", out: trlOut });
    expect(trl.ok, trl.diagnostics.map((d) => d.message).join("\n")).toBe(true);
    const model = asMap(parseYaml(readFileSync(join(trlOut, "model.yaml"), "utf8")));
    expect(JSON.stringify(model)).toContain('"target_modules":["q_proj","o_proj","down_proj"]');
    expect(readFileSync(join(trlOut, "accelerate.yaml"), "utf8")).toContain(layerClass);
  });
});
