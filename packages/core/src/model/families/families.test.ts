import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../backend.ts";
import { Checkpoint, writeCheckpoint } from "../checkpoint.ts";
import { loadModel, randomModel } from "../llama.ts";
import type { TensorToWrite } from "../safetensors.ts";
import { tinyConfig } from "../tiny.ts";
import { gemma2 } from "./gemma2.ts";
import { gemma3 } from "./gemma3.ts";
import {
  builtinFamilyNames,
  decoderFamily,
  familyNamed,
  familyNames,
  type ModelFamily,
  parseHfConfig,
  registerFamily,
  toHfConfig,
  unregisterFamily,
} from "./index.ts";
import { llama } from "./llama.ts";
import { mistral } from "./mistral.ts";
import { phi3 } from "./phi3.ts";
import { qwen2 } from "./qwen2.ts";
import { qwen3 } from "./qwen3.ts";

beforeAll(async () => {
  await initBackend();
});

const base = {
  vocab_size: 64,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
};

describe("the built-in families", () => {
  it("are one file each, registered under their model_type with their transformers classes", () => {
    expect(builtinFamilyNames).toEqual([
      "llama",
      "qwen2",
      "mistral",
      "qwen3",
      "gemma2",
      "gemma3_text",
      "phi3",
    ]);
    expect(familyNames()).toEqual(expect.arrayContaining(["llama", "qwen2", "mistral", "qwen3", "phi3"]));
    expect(
      [llama, qwen2, mistral, qwen3, gemma2, gemma3, phi3].map((f) => [
        f.name,
        f.hfClass,
        f.decoderLayerClass,
      ]),
    ).toEqual([
      ["llama", "LlamaForCausalLM", "LlamaDecoderLayer"],
      ["qwen2", "Qwen2ForCausalLM", "Qwen2DecoderLayer"],
      ["mistral", "MistralForCausalLM", "MistralDecoderLayer"],
      ["qwen3", "Qwen3ForCausalLM", "Qwen3DecoderLayer"],
      ["gemma2", "Gemma2ForCausalLM", "Gemma2DecoderLayer"],
      ["gemma3_text", "Gemma3ForCausalLM", "Gemma3DecoderLayer"],
      ["phi3", "Phi3ForCausalLM", "Phi3DecoderLayer"],
    ]);
    for (const f of [llama, qwen2, mistral, qwen3, gemma2, gemma3, phi3]) expect(familyNamed(f.name)).toBe(f);
  });

  it("each reads its own keys: llama's bias flags, qwen2's fixed q/k/v biases, mistral's none", () => {
    const flags = { attention_bias: true, mlp_bias: true };
    const l = parseHfConfig({ ...base, ...flags, model_type: "llama" }, "x");
    const q = parseHfConfig({ ...base, attention_bias: false, model_type: "qwen2" }, "x");
    const m = parseHfConfig({ ...base, ...flags, model_type: "mistral" }, "x");
    expect([l.attentionBias, l.mlpBias]).toEqual([true, true]);
    expect([q.attentionBias, q.mlpBias]).toEqual([true, false]);
    expect([m.attentionBias, m.mlpBias]).toEqual([false, false]);
    const bias = (f: ModelFamily, cfg: typeof l) =>
      Object.fromEntries(f.linearModules(cfg).map((x) => [x.name, x.bias]));
    expect(bias(qwen2, q)).toMatchObject({ q_proj: true, o_proj: false, down_proj: false });
    expect(bias(llama, l)).toMatchObject({ q_proj: true, o_proj: true, down_proj: true });
    // Only llama writes the bias keys (transformers' Qwen2Config and MistralConfig have none).
    expect(toHfConfig(l)).toHaveProperty("attention_bias", true);
    expect(toHfConfig(q)).not.toHaveProperty("attention_bias");
  });

  it("reports every bad key of a config.json at once, each named", () => {
    const bad = { ...base, model_type: "llama", hidden_size: "32", rms_norm_eps: "small", eos_token_id: -1 };
    let message = "";
    try {
      parseHfConfig(bad, "/m/config.json");
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('/m/config.json: field "hidden_size"');
    expect(message).toContain('field "rms_norm_eps"');
    expect(message).toContain('field "eos_token_id"');
  });

  it("counts tensors from one inventory: the model's checkpoint holds exactly the family's tensors", () => {
    const cfg = tinyConfig("qwen2");
    const names = qwen2.tensors(cfg, cfg.vocabSize).map((t) => t.name);
    expect(
      randomModel(cfg)
        .checkpointTensors()
        .map((t) => t.name),
    ).toEqual(names);
    expect(names).toContain("model.layers.1.self_attn.k_proj.bias");
    expect(names).not.toContain("model.layers.1.self_attn.o_proj.bias");
  });
});

describe("qwen3", () => {
  const qwen3Json = { ...base, model_type: "qwen3", head_dim: 16, tie_word_embeddings: true };

  it("has q_norm and k_norm of head_dim per layer, no q/k/v bias unless attention_bias, and o_proj's with it", () => {
    const cfg = parseHfConfig(qwen3Json, "x");
    expect(cfg).toMatchObject({ qkNorm: true, headDim: 16, attentionBias: false, tieWordEmbeddings: true });
    const names = qwen3.tensors(cfg, cfg.vocabSize);
    expect(
      names.filter((t) => t.layer === 0 && t.name.endsWith("norm.weight")).map((t) => [t.name, t.shape]),
    ).toEqual([
      ["model.layers.0.input_layernorm.weight", [32]],
      ["model.layers.0.self_attn.q_norm.weight", [16]],
      ["model.layers.0.self_attn.k_norm.weight", [16]],
      ["model.layers.0.post_attention_layernorm.weight", [32]],
    ]);
    expect(names.map((t) => t.name)).not.toContain("lm_head.weight");
    const biased = parseHfConfig({ ...qwen3Json, attention_bias: true }, "x");
    const bias = Object.fromEntries(qwen3.linearModules(biased).map((m) => [m.name, m.bias]));
    expect(bias).toMatchObject({ q_proj: true, o_proj: true, gate_proj: false });
    expect(qwen3.linearModules(cfg).map((m) => [m.name, m.inFeatures, m.outFeatures])).toEqual([
      ["q_proj", 32, 64],
      ["k_proj", 32, 32],
      ["v_proj", 32, 32],
      ["o_proj", 64, 32],
      ["gate_proj", 32, 48],
      ["up_proj", 32, 48],
      ["down_proj", 48, 32],
    ]);
  });

  it("names the file and key of an unsupported value", () => {
    expect(() =>
      parseHfConfig({ ...qwen3Json, hidden_act: "gelu", attention_bias: "yes" }, "/m/config.json"),
    ).toThrow(
      '/m/config.json: field "hidden_act" "gelu" is not supported (only silu)\n/m/config.json: field "attention_bias" must be true or false, got "yes"',
    );
  });

  it("writes a config.json that keeps the base's other keys and transformers reads back the same", () => {
    const baseJson = {
      ...qwen3Json,
      use_sliding_window: false,
      sliding_window: null,
      max_window_layers: 28,
      attention_dropout: 0,
      transformers_version: "4.51.0",
    };
    const cfg = parseHfConfig(baseJson, "x");
    const out = toHfConfig(cfg, baseJson);
    expect(out).toMatchObject({
      model_type: "qwen3",
      architectures: ["Qwen3ForCausalLM"],
      head_dim: 16,
      attention_bias: false,
      use_sliding_window: false,
      max_window_layers: 28,
      attention_dropout: 0,
      transformers_version: "4.51.0",
    });
    for (const key of Object.keys(baseJson)) expect(out).toHaveProperty(key);
    expect(parseHfConfig(out, "y")).toEqual(cfg);
  });
});

describe("a written config.json", () => {
  it("keeps the base model's keys its family does not read (Mistral's sliding_window: null)", () => {
    const baseJson = {
      ...base,
      model_type: "mistral",
      sliding_window: null,
      transformers_version: "4.44.0",
      rope_parameters: { rope_type: "default", rope_theta: 10000 },
      quantization_config: { quant_method: "bitsandbytes" },
    };
    const cfg = parseHfConfig(baseJson, "x");
    const out = toHfConfig({ ...cfg, vocabSize: 66 }, baseJson);
    expect(out).toHaveProperty("sliding_window", null);
    expect(out).toHaveProperty("transformers_version", "4.44.0");
    expect(out.vocab_size).toBe(66);
    // Keys the family reads are written from the config (the rope as rope_theta); a merged model is not quantized.
    expect(out).not.toHaveProperty("rope_parameters");
    expect(out).not.toHaveProperty("quantization_config");
  });
});

describe("registering a family", () => {
  afterEach(() => unregisterFamily("fusedqkv"));

  it("refuses a second family under a taken name and lists the registered ones for an unknown type", () => {
    expect(() => registerFamily({ ...llama })).toThrow(/already registered/);
    expect(() => parseHfConfig({ ...base, model_type: "gpt2" }, "c.json")).toThrow(
      /field "model_type" "gpt2" is not supported \(supported: llama, qwen2, mistral/,
    );
  });

  it("converts weights at load through the family's hook (a fused qkv_proj split into q, k and v)", async () => {
    // A llama checkpoint, and the same weights with q/k/v fused as some ports store them.
    const cfg = tinyConfig("llama", { tieWordEmbeddings: false });
    const plain = mkdtempSync(join(tmpdir(), "sft-family-plain-"));
    const reference = randomModel(cfg, { seed: 3 });
    await reference.save(plain);
    const ck = await Checkpoint.open(plain);
    const q = cfg.numHeads * cfg.headDim;
    const kv = cfg.numKvHeads * cfg.headDim;
    const tensors: TensorToWrite[] = [];
    for (const name of ck.names()) {
      const shape = [...ck.info(name).shape];
      const fused = /^(model\.layers\.\d+\.self_attn)\.q_proj\.weight$/.exec(name);
      if (/\.(k|v)_proj\.weight$/.test(name)) continue;
      if (!fused) {
        const data = await ck.readF32(name, shape);
        tensors.push({ name, shape, data: async () => data });
        continue;
      }
      const at = fused[1]!;
      const parts = await Promise.all(
        ["q", "k", "v"].map((p) =>
          ck.readF32(`${at}.${p}_proj.weight`, [p === "q" ? q : kv, cfg.hiddenSize]),
        ),
      );
      const data = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
      let o = 0;
      for (const p of parts) {
        data.set(p, o);
        o += p.length;
      }
      tensors.push({
        name: `${at}.qkv_proj.weight`,
        shape: [q + 2 * kv, cfg.hiddenSize],
        data: async () => data,
      });
    }
    await ck.close();
    const fusedDir = mkdtempSync(join(tmpdir(), "sft-family-fused-"));
    await writeCheckpoint(fusedDir, tensors, { dtype: "F32" });
    writeFileSync(
      join(fusedDir, "config.json"),
      JSON.stringify({ ...toHfConfig(cfg), model_type: "fusedqkv" }),
    );

    const reads: string[] = [];
    registerFamily(
      decoderFamily({
        name: "fusedqkv",
        description: "Llama with a fused qkv_proj (a test family).",
        hfClass: "FusedForCausalLM",
        decoderLayerClass: "FusedDecoderLayer",
        qkvBias: "never",
        oProjBias: false,
        mlpBias: "never",
        async readWeight(name, shape, source) {
          const m = /^(model\.layers\.\d+\.self_attn)\.([qkv])_proj\.weight$/.exec(name);
          if (!m) return source.read(name, shape);
          reads.push(name);
          const all = await source.read(`${m[1]}.qkv_proj.weight`, [q + 2 * kv, cfg.hiddenSize]);
          const start = { q: 0, k: q, v: q + kv }[m[2] as "q" | "k" | "v"] * cfg.hiddenSize;
          return all.slice(start, start + shape[0]! * shape[1]!);
        },
      }),
    );
    const loaded = await loadModel(fusedDir);
    expect(loaded.config.architecture).toBe("fusedqkv");
    expect(reads).toHaveLength(3 * cfg.numLayers);
    const ids = [[1, 5, 9, 3, 7]];
    const [want, got] = [await reference.logits(ids), await loaded.logits(ids)];
    expect(got).toEqual(want);
    reference.dispose();
    loaded.dispose();
  });
});
