// What Gemma 2 and Gemma 3 add to the decoder's config.json (transformers' configuration_gemma2.py and
// configuration_gemma3.py): tied embeddings by default, (1 + weight) norms, embeddings scaled by
// sqrt(hidden_size), query_pre_attn_scalar, soft-capping, and Gemma 3's local RoPE base.
import { z } from "zod";
import type { DecoderExtension, Issue } from "./decoder.ts";
import type { ModelConfig } from "./types.ts";

const got = (v: unknown) => JSON.stringify(v);
const num = () =>
  z.number({ error: (i) => (i.input == null ? "is missing" : `must be a number, got ${got(i.input)}`) });
const positive = () => num().positive({ error: (i) => `must be positive, got ${got(i.input)}` });

interface GemmaDefaults {
  /** Gemma2Config: 50 and 30; Gemma3TextConfig: none. */
  attnLogitSoftcap: number | null;
  finalLogitSoftcap: number | null;
  /** Gemma 3: `rope_local_base_freq` (default 10000) for the sliding layers. */
  localRope: boolean;
}

type GemmaJson = {
  tie_word_embeddings?: boolean | null;
  head_dim?: number | null;
  query_pre_attn_scalar?: number | null;
  attn_logit_softcapping?: number | null;
  final_logit_softcapping?: number | null;
  rope_local_base_freq?: number | null;
  rope_parameters?: Record<string, unknown> | null;
};

/** Transformers >= 5 nests each layer type's RoPE in `rope_parameters` ({ full_attention, sliding_attention }). */
function nestedTheta(j: GemmaJson, type: "full_attention" | "sliding_attention"): number | undefined {
  const inner = j.rope_parameters?.[type];
  const theta =
    inner && typeof inner === "object" ? (inner as { rope_theta?: unknown }).rope_theta : undefined;
  return typeof theta === "number" ? theta : undefined;
}

export function gemmaExtension(d: GemmaDefaults): DecoderExtension {
  const cap = (v: number | null | undefined, fallback: number | null) => (v === undefined ? fallback : v);
  return {
    keys: {
      hidden_activation: z
        .literal("gelu_pytorch_tanh", {
          error: (i) => `"${String(i.input)}" is not supported (only gelu_pytorch_tanh)`,
        })
        .nullish(),
      query_pre_attn_scalar: positive().nullish(),
      attn_logit_softcapping: positive().nullish(),
      final_logit_softcapping: positive().nullish(),
      ...(d.localRope ? { rope_local_base_freq: positive().nullish() } : {}),
    },
    parse(json: Record<string, unknown>, cfg: ModelConfig, issues: Issue[]): Partial<ModelConfig> {
      const j = json as GemmaJson;
      const full = nestedTheta(j, "full_attention");
      const local = nestedTheta(j, "sliding_attention");
      const nested = j.rope_parameters?.full_attention as
        | { rope_type?: unknown; factor?: unknown }
        | undefined;
      if (nested && full === undefined)
        issues.push({ path: ["rope_parameters", "full_attention", "rope_theta"], message: "is missing" });
      let ropeScaling = cfg.ropeScaling;
      if (nested && nested.rope_type !== undefined && nested.rope_type !== "default") {
        if (nested.rope_type === "linear" && typeof nested.factor === "number")
          ropeScaling = { type: "linear", factor: nested.factor };
        else
          issues.push({
            path: ["rope_parameters", "full_attention", "rope_type"],
            message: `${got(nested.rope_type)} is not supported here (supported: default, linear with a factor)`,
          });
      }
      return {
        // Gemma2Config and Gemma3TextConfig tie by default, and head_dim defaults to 256.
        tieWordEmbeddings: j.tie_word_embeddings ?? true,
        headDim: j.head_dim ?? 256,
        normUnitOffset: true,
        embeddingScale: true,
        queryPreAttnScalar: j.query_pre_attn_scalar ?? 256,
        attnLogitSoftcap: cap(j.attn_logit_softcapping, d.attnLogitSoftcap),
        finalLogitSoftcap: cap(j.final_logit_softcapping, d.finalLogitSoftcap),
        ...(full !== undefined ? { ropeTheta: full } : {}),
        ropeScaling,
        ...(d.localRope ? { ropeLocalTheta: local ?? j.rope_local_base_freq ?? 10000 } : {}),
      };
    },
    toHf(cfg: ModelConfig): Record<string, unknown> {
      return {
        hidden_activation: "gelu_pytorch_tanh",
        query_pre_attn_scalar: cfg.queryPreAttnScalar ?? cfg.headDim,
        attn_logit_softcapping: cfg.attnLogitSoftcap ?? null,
        final_logit_softcapping: cfg.finalLogitSoftcap ?? null,
        ...(d.localRope ? { rope_local_base_freq: cfg.ropeLocalTheta ?? 10000 } : {}),
      };
    },
  };
}
