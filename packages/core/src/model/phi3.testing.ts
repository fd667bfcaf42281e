// Tiny phi3 checkpoints written as transformers stores them (its config.json keys, fused qkv_proj and
// gate_up_proj), from a seeded generator independent of tfjs: for the phi3 tests.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeCheckpoint } from "./checkpoint.ts";

/** A Phi-4-mini-shaped config.json, tiny: GQA 4/2, head_dim 8, partial rotary 0.75, tied. */
export function phi3Json(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ["Phi3ForCausalLM"],
    model_type: "phi3",
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 1,
    embd_pdrop: 0.0,
    eos_token_id: 2,
    full_attn_mod: 1,
    hidden_act: "silu",
    hidden_size: 32,
    initializer_range: 0.02,
    intermediate_size: 48,
    interpolate_factor: 1,
    lm_head_bias: false,
    max_position_embeddings: 128,
    mlp_bias: false,
    num_attention_heads: 4,
    num_hidden_layers: 2,
    num_key_value_heads: 2,
    original_max_position_embeddings: 128,
    pad_token_id: 3,
    partial_rotary_factor: 0.75,
    resid_pdrop: 0.0,
    rms_norm_eps: 1e-5,
    rope_scaling: null,
    rope_theta: 10000.0,
    sliding_window: 262144,
    tie_word_embeddings: true,
    torch_dtype: "float32",
    use_cache: true,
    vocab_size: 61,
    ...over,
  };
}

/** xorshift-based normal draws: the checkpoint's values, independent of tfjs. */
function normals(n: number, seed: number, std: number): Float32Array {
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = std * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

/** Writes config.json and random tensors under transformers' Phi3 names and shapes. */
export async function writePhi3(
  path: string,
  json: Record<string, unknown>,
  opts: { dtype?: "F32" | "BF16"; seed?: number; std?: number } = {},
): Promise<void> {
  const d = json.hidden_size as number;
  const H = json.num_attention_heads as number;
  const KV = json.num_key_value_heads as number;
  const hd = d / H;
  const ffn = json.intermediate_size as number;
  const V = json.vocab_size as number;
  const shapes: [string, number[]][] = [["model.embed_tokens.weight", [V, d]]];
  for (let l = 0; l < (json.num_hidden_layers as number); l++) {
    const p = `model.layers.${l}`;
    shapes.push(
      [`${p}.self_attn.o_proj.weight`, [d, H * hd]],
      [`${p}.self_attn.qkv_proj.weight`, [H * hd + 2 * KV * hd, d]],
      [`${p}.mlp.gate_up_proj.weight`, [2 * ffn, d]],
      [`${p}.mlp.down_proj.weight`, [d, ffn]],
      [`${p}.input_layernorm.weight`, [d]],
      [`${p}.post_attention_layernorm.weight`, [d]],
    );
  }
  shapes.push(["model.norm.weight", [d]]);
  if (!json.tie_word_embeddings) shapes.push(["lm_head.weight", [V, d]]);
  const seed = opts.seed ?? 1;
  await writeCheckpoint(
    path,
    shapes.map(([name, shape], i) => {
      const n = shape.reduce((a, b) => a * b, 1);
      // Norm weights around 1, the rest around 0 (large enough that every part moves the logits).
      const data = normals(n, seed * 1009 + i, name.includes("norm") ? 0.3 : (opts.std ?? 0.2));
      if (name.includes("norm")) for (let j = 0; j < n; j++) data[j] = data[j]! + 1;
      return { name, shape, data };
    }),
    { dtype: opts.dtype ?? "F32" },
  );
  await writeFile(join(path, "config.json"), `${JSON.stringify(json, null, 2)}\n`);
}

/** n longrope factors from v up, in steps of 0.01. */
export const factors = (n: number, v: number) => Array.from({ length: n }, (_, i) => v + i / 100);

/** Phi-4-mini-instruct's config.json keys and values (the longrope factors stand in: 48 each). */
export const phi4MiniJson = {
  architectures: ["Phi3ForCausalLM"],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 199999,
  embd_pdrop: 0.0,
  eos_token_id: 199999,
  full_attn_mod: 1,
  hidden_act: "silu",
  hidden_size: 3072,
  initializer_range: 0.02,
  intermediate_size: 8192,
  interpolate_factor: 1,
  lm_head_bias: false,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: "phi3",
  num_attention_heads: 24,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  original_max_position_embeddings: 4096,
  pad_token_id: 199999,
  partial_rotary_factor: 0.75,
  resid_pdrop: 0.0,
  rms_norm_eps: 1e-5,
  rope_scaling: { long_factor: factors(48, 1), short_factor: factors(48, 1), type: "longrope" },
  rope_theta: 10000.0,
  sliding_window: 262144,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  transformers_version: "4.45.0",
  use_cache: true,
  vocab_size: 200064,
};
