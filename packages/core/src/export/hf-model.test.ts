import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseHfConfig } from "../model/config.ts";
import { writeHfModel } from "./hf-model.ts";

describe("writeHfModel", () => {
  it("keeps the keys of the base's config.json that the family does not read (Mistral's sliding_window: null)", async () => {
    // Mistral-7B-Instruct-v0.2's config.json: without `sliding_window: null`, transformers would default to 4096.
    const baseConfig = {
      architectures: ["MistralForCausalLM"],
      model_type: "mistral",
      vocab_size: 8,
      hidden_size: 4,
      intermediate_size: 8,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      sliding_window: null,
      rope_theta: 1000000,
      transformers_version: "4.36.0",
    };
    const baseDir = mkdtempSync(join(tmpdir(), "sft-hf-base-"));
    writeFileSync(join(baseDir, "config.json"), JSON.stringify(baseConfig));
    const cfg = parseHfConfig(baseConfig, "base");
    const out = mkdtempSync(join(tmpdir(), "sft-hf-merged-"));
    await writeHfModel(out, { ...cfg, vocabSize: 10 }, [], {
      baseDir,
      tokenizerDir: null,
      tokenizer: { added: [], chatTemplate: null },
    });
    const written = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
    expect(written).toHaveProperty("sliding_window", null);
    expect(written.transformers_version).toBe("4.36.0");
    expect(written.vocab_size).toBe(10);
    expect(parseHfConfig(written, "out")).toEqual({ ...cfg, vocabSize: 10 });
  });
});
