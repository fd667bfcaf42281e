// Method presets with documented defaults. Each is a plain value: spread it, or extend it in a recipe.
import type { RecipeInput } from "@sftkit/core";

type Method = RecipeInput["method"];

/**
 * LoRA on every linear layer (QLoRA paper: adapting all linear layers matters more than the rank),
 * rank 16 with alpha 32 (update scale 2), dropout 0.05: a strong general default.
 */
export const lora = {
  kind: "lora",
  rank: 16,
  alpha: 32,
  dropout: 0.05,
  targets: "all-linear",
} as const satisfies Method;

/** LoRA on the attention projections only, rank 8: the classic, smallest adapter. */
export const loraAttention = {
  kind: "lora",
  rank: 8,
  alpha: 16,
  dropout: 0.05,
  targets: ["q_proj", "k_proj", "v_proj", "o_proj"],
} as const satisfies Method;

/** QLoRA: the `lora` preset over an NF4 base (block size 64, double quantization), as in the paper. */
export const qlora = {
  ...lora,
  kind: "qlora",
  quantization: { blockSize: 64, doubleQuant: true },
} as const satisfies Method;

/** Full fine-tuning: every parameter trains; pair it with a learning rate around 2e-5. */
export const full = { kind: "full" } as const satisfies Method;

/** Train the last quarter of a 24-layer model plus lm_head: cheap adaptation of the output style. */
export const lastLayers = { kind: "partial", lastLayers: 6, lmHead: true } as const satisfies Method;

/** Backbone frozen; only the rows of newly added tokens train (e.g. knowledge probes, new roles). */
export const newTokensOnly = { kind: "frozen", trainable: { newTokens: true } } as const satisfies Method;

/** P-tuning v2: 20 virtual tokens per layer through a reparameterization MLP, for stable training. */
export const prefix = {
  kind: "prefix",
  virtualTokens: 20,
  reparameterize: { hiddenSize: 512 },
} as const satisfies Method;

/**
 * DoRA: the `lora` preset with a trained magnitude per output row (weight-decomposed LoRA). Often closer to
 * full fine-tuning at the same rank; each step costs more (the weight norm is recomputed every pass).
 */
export const dora = { ...lora, dora: true } as const satisfies Method;

/** QDoRA: the `dora` preset over an NF4 base, as the `qlora` preset. */
export const qdora = { ...qlora, dora: true } as const satisfies Method;

/**
 * LoRA+: the `lora` preset with B learning 16 times faster than A (the LoRA+ paper's suggestion); pair it with
 * a learning rate about half of plain LoRA's.
 */
export const loraPlus = { ...lora, loraPlusRatio: 16 } as const satisfies Method;

/**
 * The `lora` preset that also trains the whole embedding and lm_head (PEFT's modules_to_save): for templates
 * that add many new tokens, whose rows then learn with the whole tables.
 */
export const loraWithEmbeddings = {
  ...lora,
  modulesToSave: ["embed_tokens", "lm_head"],
} as const satisfies Method;

/**
 * PiSSA: LoRA started from each weight's principal singular vectors, the residual left frozen (PEFT's
 * init_lora_weights="pissa_niter_4", rank = alpha and no dropout as in PEFT's examples/pissa_finetuning).
 * Converges faster than LoRA; pair it with a lower learning rate (PEFT's example uses 2e-5). lora only (not qlora).
 */
export const pissa = {
  kind: "lora",
  rank: 16,
  alpha: 16,
  dropout: 0,
  targets: "all-linear",
  init: "pissa_niter_4",
} as const satisfies Method;
