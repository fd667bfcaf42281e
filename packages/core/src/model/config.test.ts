import { describe, expect, it } from "vitest";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../testing/fixtures.ts";
import {
  countParameters,
  linearModules,
  ModelConfigError,
  parseHfConfig,
  readHfConfig,
  toHfConfig,
} from "./config.ts";

const llama = {
  model_type: "llama",
  vocab_size: 512,
  hidden_size: 64,
  intermediate_size: 172,
  num_hidden_layers: 5,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  max_position_embeddings: 512,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
  bos_token_id: 1,
  eos_token_id: 2,
  torch_dtype: "float32",
};

describe("parseHfConfig", () => {
  it("parses a llama config with GQA and derived head_dim", () => {
    const c = parseHfConfig(llama, "config.json");
    expect(c).toMatchObject({ architecture: "llama", headDim: 8, numKvHeads: 4, tieWordEmbeddings: true });
    expect(c.ropeScaling).toBeNull();
    expect(c.attentionBias).toBe(false);
  });

  it("gives qwen2 q/k/v bias and no o_proj bias", () => {
    const c = parseHfConfig(
      { ...llama, model_type: "qwen2", rope_theta: 1e6, tie_word_embeddings: false },
      "x",
    );
    expect(c.attentionBias).toBe(true);
    const mods = linearModules(c);
    expect(mods.find((m) => m.name === "q_proj")?.bias).toBe(true);
    expect(mods.find((m) => m.name === "o_proj")?.bias).toBe(false);
    expect(c.ropeTheta).toBe(1e6);
  });

  it("reads llama3 rope_scaling and newer rope_parameters", () => {
    const scaling = {
      rope_type: "llama3",
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 8192,
    };
    const a = parseHfConfig({ ...llama, rope_theta: 500000, rope_scaling: scaling }, "x");
    expect(a.ropeScaling).toEqual({
      type: "llama3",
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    const { rope_theta: _, ...noTheta } = llama;
    const b = parseHfConfig({ ...noTheta, rope_parameters: { ...scaling, rope_theta: 500000 } }, "x");
    expect(b.ropeTheta).toBe(500000);
    expect(b.ropeScaling).toEqual(a.ropeScaling);
    const c = parseHfConfig({ ...llama, rope_scaling: { type: "linear", factor: 2 } }, "x");
    expect(c.ropeScaling).toEqual({ type: "linear", factor: 2 });
  });

  it("rejects unsupported model types and bad fields naming file and field", () => {
    expect(() => parseHfConfig({ ...llama, model_type: "gpt2" }, "/m/config.json")).toThrow(
      /\/m\/config.json: field "model_type" "gpt2" is not supported/,
    );
    expect(() => parseHfConfig({ ...llama, num_key_value_heads: 3 }, "c.json")).toThrow(ModelConfigError);
    expect(() => parseHfConfig({ ...llama, hidden_size: "64" }, "c.json")).toThrow(/"hidden_size"/);
    expect(() =>
      parseHfConfig({ ...llama, rope_scaling: { rope_type: "yarn", factor: 2 } }, "c.json"),
    ).toThrow(/rope_scaling.rope_type/);
  });

  it("round-trips through toHfConfig", () => {
    for (const t of ["llama", "qwen2", "mistral"]) {
      const c = parseHfConfig(
        { ...llama, model_type: t, eos_token_id: [2, 3], rope_scaling: { type: "linear", factor: 4 } },
        "x",
      );
      expect(parseHfConfig(toHfConfig(c), "y")).toEqual(c);
    }
  });

  it("writes transformers' current `dtype` key, and reads it first as transformers does", () => {
    const c = parseHfConfig({ ...llama, torch_dtype: "bfloat16" }, "x");
    const out = toHfConfig(c);
    expect(out.dtype).toBe("bfloat16");
    // Kept equal for readers older than transformers 4.56.
    expect(out.torch_dtype).toBe("bfloat16");
    // PreTrainedConfig.__post_init__ keeps `dtype` when both are present.
    expect(parseHfConfig({ ...llama, dtype: "float16", torch_dtype: "bfloat16" }, "x").torchDtype).toBe(
      "float16",
    );
    const { torch_dtype: _, ...onlyNew } = llama;
    expect(parseHfConfig({ ...onlyNew, dtype: "bfloat16" }, "x").torchDtype).toBe("bfloat16");
  });

  it("counts parameters", () => {
    const c = parseHfConfig(llama, "x");
    const n = countParameters(c);
    // stories260K: 512*64 embedding, 5 layers, tied head.
    expect(n.embedding).toBe(32768);
    expect(n.lmHead).toBe(0);
    expect(n.perLayer).toBe(64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 172 + 128);
    expect(n.total).toBe(n.embedding + 5 * n.perLayer + 64);
  });
});

describe.skipIf(!hasSharedFixtures)(`readHfConfig on stories260K (${sharedFixturesSkipReason})`, () => {
  it("reads the real config", async () => {
    const c = await readHfConfig(fixture("models/stories260K/hf-derived"));
    expect(c).toMatchObject({ vocabSize: 512, hiddenSize: 64, numLayers: 5, numKvHeads: 4, headDim: 8 });
  });
});
