import { describe, expect, it } from "vitest";
import { countParameters } from "../config.ts";
import { factors, phi4MiniJson as phi4Mini } from "../phi3.testing.ts";
import { beyondLlama, layerWindow, ModelConfigError, parseHfConfig, toHfConfig } from "./index.ts";
import { phi3 } from "./phi3.ts";

function errorOf(json: unknown): string {
  try {
    parseHfConfig(json, "/m/config.json");
  } catch (e) {
    expect(e).toBeInstanceOf(ModelConfigError);
    return (e as Error).message;
  }
  throw new Error("parsed without an error");
}

describe("the phi3 family", () => {
  it("reads Phi-4-mini's config.json: fused linears, partial rotary 0.75, longrope from the top-level context", () => {
    const cfg = parseHfConfig(phi4Mini, "config.json");
    expect(cfg).toMatchObject({
      architecture: "phi3",
      headDim: 128,
      numKvHeads: 8,
      partialRotaryFactor: 0.75,
      tieWordEmbeddings: true,
      attentionBias: false,
      ropeScaling: { type: "longrope", originalMaxPositionEmbeddings: 4096, attentionFactor: null },
    });
    expect(phi3.linearModules(cfg).map((m) => [m.path, m.inFeatures, m.outFeatures, m.bias])).toEqual([
      ["self_attn.o_proj", 3072, 3072, false],
      ["self_attn.qkv_proj", 3072, 3072 + 2 * 1024, false],
      ["mlp.gate_up_proj", 3072, 2 * 8192, false],
      ["mlp.down_proj", 8192, 3072, false],
    ]);
    expect(beyondLlama(cfg)).toEqual([
      "fused linears (qkv_proj, gate_up_proj)",
      "partial rotary (factor 0.75)",
      "longrope scaling",
    ]);
  });

  it("counts Phi-4-mini's 3,836,021,760 parameters (tied: no lm_head)", () => {
    const n = countParameters(parseHfConfig(phi4Mini, "config.json"));
    // Per layer: qkv 5120x3072 + o 3072x3072 + gate_up 16384x3072 + down 3072x8192 + two norms of 3072.
    const perLayer = 5120 * 3072 + 3072 * 3072 + 16384 * 3072 + 3072 * 8192 + 2 * 3072;
    expect(n.perLayer).toBe(perLayer);
    expect(n.lmHead).toBe(0);
    expect(n.total).toBe(200064 * 3072 + 32 * perLayer + 3072);
    expect(n.total).toBe(3_836_021_760);
  });

  it("names the file and key of each unsupported value, all at once", () => {
    const message = errorOf({
      ...phi4Mini,
      partial_rotary_factor: 0.7,
      original_max_position_embeddings: "4k",
      rope_scaling: { type: "longrope", long_factor: [1, 2] },
    });
    expect(message).toContain('/m/config.json: field "partial_rotary_factor" must be in (0, 1]');
    expect(message).toContain('/m/config.json: field "original_max_position_embeddings" must be an integer');
    expect(message).toContain('/m/config.json: field "rope_scaling.short_factor" is missing');
    expect(
      errorOf({ ...phi4Mini, rope_scaling: { type: "su", short_factor: [], long_factor: [] } }),
    ).toContain(
      'field "rope_scaling.rope_type" "su" is not supported (supported: default, linear, llama3, longrope)',
    );
    expect(
      errorOf({
        ...phi4Mini,
        rope_scaling: { type: "longrope", short_factor: [1], long_factor: factors(48, 1) },
      }),
    ).toContain('field "rope_scaling.short_factor" must list 48 factors (half the rotary dimensions), got 1');
    expect(errorOf({ ...phi4Mini, hidden_act: "gelu" })).toContain(
      'field "hidden_act" "gelu" is not supported',
    );
  });

  it("writes a config.json that keeps every key of the base, with longrope as Phi3Config reads it", () => {
    const cfg = parseHfConfig(phi4Mini, "config.json");
    const out = toHfConfig({ ...cfg, vocabSize: 200070, torchDtype: "float32" }, phi4Mini);
    expect(Object.keys(out).sort()).toEqual(
      [...new Set([...Object.keys(phi4Mini), "dtype", "head_dim"])].sort(),
    );
    for (const [k, v] of Object.entries(phi4Mini))
      if (!["vocab_size", "torch_dtype"].includes(k)) expect([k, out[k]]).toEqual([k, v]);
    expect(out).toMatchObject({ vocab_size: 200070, torch_dtype: "float32" });
    // Without a base: the three longrope keys, the context length at the top.
    const bare = toHfConfig(cfg);
    expect(bare.rope_scaling).toEqual(phi4Mini.rope_scaling);
    expect(bare).toMatchObject({ original_max_position_embeddings: 4096, partial_rotary_factor: 0.75 });
    expect(parseHfConfig(bare, "again")).toEqual(cfg);
  });

  it("reads sliding_window as Phi3Config does: on every layer where set, none when absent or null; writes it back", () => {
    const windowed = parseHfConfig({ ...phi4Mini, sliding_window: 2047 }, "c");
    expect(windowed.slidingWindow).toBe(2047);
    expect(Array.from({ length: windowed.numLayers }, (_, l) => layerWindow(windowed, l))).toEqual(
      Array(windowed.numLayers).fill(2047),
    );
    expect(toHfConfig(windowed).sliding_window).toBe(2047);
    for (const off of [null, undefined])
      expect(parseHfConfig({ ...phi4Mini, sliding_window: off }, "c").slidingWindow).toBeUndefined();
  });

  it("defaults as Phi3Config does: full rotary, original context 4096 for longrope, no scaling", () => {
    const plain = parseHfConfig(
      {
        ...phi4Mini,
        partial_rotary_factor: undefined,
        rope_scaling: null,
        original_max_position_embeddings: undefined,
      },
      "c",
    );
    expect(plain.partialRotaryFactor).toBe(1);
    expect(plain.ropeScaling).toBeNull();
    const rope = { type: "longrope", short_factor: factors(64, 1), long_factor: factors(64, 2) };
    const long = parseHfConfig(
      {
        ...phi4Mini,
        partial_rotary_factor: undefined,
        rope_scaling: rope,
        original_max_position_embeddings: undefined,
      },
      "c",
    );
    expect(long.ropeScaling).toMatchObject({ type: "longrope", originalMaxPositionEmbeddings: 4096 });
  });
});
