// LoRA: low-rank adapters on chosen linear modules (rsLoRA scaling, input dropout), optionally training the
// rows of added tokens (PEFT trainable tokens). QLoRA (qlora.ts) is this over an NF4 base.
import { z } from "zod";
import type { ModelConfig } from "../model/config.ts";
import { linearModules } from "../model/config.ts";
import { linearRoles } from "../model/families/types.ts";
import { positiveInt } from "../recipe/schema/common.ts";
import type {
  AxolotlMapping,
  EngineFeatureUse,
  ExportFacts,
  ExportNote,
  LearningRateGroup,
  MethodDefinition,
  MethodProblem,
  TensorRef,
  TrlMapping,
} from "./definition.ts";
import { MIN_PEFT_TRAINABLE_TOKENS } from "./peft.ts";

/** The decoder's linear roles, as the model families name them. */
export const linearModuleNames = linearRoles;
export type LinearModuleName = (typeof linearModuleNames)[number];

export const loraFields = {
  rank: positiveInt().default(16).describe("LoRA rank r."),
  alpha: z
    .number()
    .positive()
    .default(32)
    .describe("LoRA alpha; the update is scaled by alpha/r (alpha/sqrt(r) with rsLoRA)."),
  dropout: z.number().min(0).lt(1).default(0.05).describe("Dropout on the LoRA input."),
  targets: z
    .union([z.literal("all-linear"), z.array(z.enum(linearModuleNames)).min(1)])
    .default(["q_proj", "k_proj", "v_proj", "o_proj"])
    .describe(
      "Linear modules that get adapters, as the model family names them (phi3: qkv_proj, o_proj, gate_up_proj, down_proj), or `all-linear`.",
    ),
  rslora: z.boolean().default(false).describe("Rank-stabilised LoRA scaling alpha/sqrt(r)."),
  modulesToSave: z
    .array(z.enum(["embed_tokens", "lm_head", "norms"]))
    .min(1)
    .optional()
    .describe(
      "Whole modules that also train beside the adapters, saved whole in the adapter (PEFT's modules_to_save): the embedding, an untied lm_head, the norms. E.g. when a template adds many tokens.",
    ),
  loraPlusRatio: z
    .number()
    .min(1)
    .optional()
    .describe(
      "LoRA+: B (and DoRA's magnitudes) learn at this many times the learning rate of A, as PEFT's create_loraplus_optimizer groups them (Axolotl's loraplus_lr_ratio; the LoRA+ paper suggests 16). Unset: one learning rate.",
    ),
  dora: z
    .boolean()
    .default(false)
    .describe(
      "DoRA (weight-decomposed LoRA): each targeted linear also trains a magnitude per output row, applied to W + scale·B·A normalised row by row (PEFT's use_dora). Often closer to full fine-tuning at low rank; steps cost more (the norm is recomputed each pass). On qlora: QDoRA.",
    ),
  init: z
    .union([z.literal("pissa"), z.templateLiteral(["pissa_niter_", z.int()])])
    .refine((v) => !v.includes("-"), "pissa_niter_<steps>: steps is 0 or more")
    .optional()
    .describe(
      'PiSSA initialisation (PEFT\'s init_lora_weights): A and B start from the r principal singular vectors of each targeted weight and the residual becomes the frozen base, so training starts from the base model\'s outputs; often converges faster than LoRA. "pissa": exact SVD (slow on large weights); "pissa_niter_N": N steps of seeded randomised subspace iteration. Unset: A random, B zero. The PEFT adapter is saved converted to a plain LoRA of rank 2r on the original base.',
    ),
  trainNewTokens: z
    .boolean()
    .default(true)
    .describe("Also train the embedding rows of added tokens (PEFT trainable_token_indices)."),
};

export const loraSchema = z.strictObject({
  kind: z.literal("lora").describe("Low-rank adapters on linear modules."),
  ...loraFields,
});
export type LoraMethod = z.output<typeof loraSchema>;
/** The LoRA settings shared by lora and qlora. */
export type LoraSettings = Omit<LoraMethod, "kind">;

/** Whether LoRA's `modulesToSave` trains a base tensor whole. */
export function loraTrainsTensor(m: LoraSettings, t: TensorRef): boolean {
  const s = m.modulesToSave ?? [];
  return (
    (t.kind === "embedding" && s.includes("embed_tokens")) ||
    (t.kind === "lm_head" && s.includes("lm_head")) ||
    (t.kind === "norm" && s.includes("norms"))
  );
}

/** The embedding trains whole, so the added rows need no trainable tokens of their own. */
const wholeEmbedding = (m: LoraSettings) => m.modulesToSave?.includes("embed_tokens") ?? false;
export const loraNewTokenRows = (m: LoraSettings) => m.trainNewTokens && !wholeEmbedding(m);
export const loraAddedRowsLearn = (m: LoraSettings) => m.trainNewTokens || wholeEmbedding(m);

/** LoRA's trainable parameters: A [r, in] and B [out, r] (and DoRA's magnitude [out]) per targeted linear and layer. */
export function loraParameters(m: LoraSettings, cfg: Parameters<typeof linearModules>[0]) {
  const all = linearModules(cfg);
  const targets = m.targets === "all-linear" ? all : all.filter((x) => m.targets.includes(x.name));
  const dora = m.dora ? 1 : 0;
  return targets.map((x) => ({
    name: `lora.${x.name}`,
    parameters: cfg.numLayers * (m.rank * (x.inFeatures + x.outFeatures) + dora * x.outFeatures),
    tensors: (2 + dora) * cfg.numLayers,
  }));
}

/** Targets the model's family has no linear for (phi3 fuses q/k/v into qkv_proj and gate/up into gate_up_proj). */
export function checkLoraTargets(m: LoraSettings, cfg: ModelConfig): MethodProblem[] {
  if (m.targets === "all-linear") return [];
  const names: string[] = linearModules(cfg).map((x) => x.name);
  return m.targets.flatMap((t, i): MethodProblem[] =>
    names.includes(t)
      ? []
      : [
          {
            severity: "error",
            code: "sft/invalid-value",
            path: ["method", "targets", i],
            message: `the ${cfg.architecture} model has no linear "${t}" (targets default to q_proj, k_proj, v_proj, o_proj)`,
            hint: `its linears are ${names.join(", ")}; or targets: "all-linear"`,
          },
        ],
  );
}

/**
 * Options that do not combine with PiSSA. On an NF4 base PEFT decomposes only an unquantized weight and asks to
 * re-quantize the residual (LoraLayer.pissa_init raises on a quantized dtype; src/peft/tuners/lora/layer.py,
 * v0.20.0-47-g5d602fdbf), which sftkit does not do. With DoRA the PiSSA-to-LoRA conversion PEFT's export uses
 * (ΔW = s·(B·A - B0·A0)) no longer holds, as the row norm is not linear.
 */
export function checkPissa(m: LoraSettings, quantized: boolean): MethodProblem[] {
  if (!m.init) return [];
  const problems: MethodProblem[] = [];
  if (quantized)
    problems.push({
      severity: "error",
      code: "sft/method-conflict",
      path: ["method", "init"],
      message: `PiSSA (init: "${m.init}") on an NF4 base: the principal components must come from the unquantized weights, and the residual be quantized after (PEFT's pissa_init refuses a quantized base)`,
      hint: 'use kind: "lora" with init: "pissa", or qlora without init',
    });
  if (m.dora)
    problems.push({
      severity: "error",
      code: "sft/method-conflict",
      path: ["method", "init"],
      message: `PiSSA (init: "${m.init}") with DoRA: the PEFT export converts PiSSA to a plain LoRA on the original base (ΔW = s·(B·A - B0·A0)), which DoRA's row normalisation breaks`,
      hint: "remove dora: true, or remove init",
    });
  return problems;
}

/**
 * modulesToSave on a model whose lm_head is its embedding (tie_word_embeddings). PEFT (src/peft/tuners/
 * tuners_utils.py, v0.20.0-47-g5d602fdbf) wraps embed_tokens alone and leaves the head on the base table unless
 * `ensure_weight_tying` (PEFT >= 0.18), while sftkit trains the one shared table.
 */
export function checkTiedModules(m: LoraSettings, cfg: ModelConfig): MethodProblem[] {
  const s = m.modulesToSave ?? [];
  if (!cfg.tieWordEmbeddings) return [];
  const problems: MethodProblem[] = [];
  const i = s.indexOf("lm_head");
  if (i >= 0)
    problems.push({
      severity: "warning",
      code: "sft/tied-modules-to-save",
      path: ["method", "modulesToSave", i],
      message: `the ${cfg.architecture} model ties lm_head to embed_tokens: it has no lm_head weight of its own, so "lm_head" here trains nothing (PEFT, given lm_head, would train an untied copy of the head unless ensure_weight_tying: true, PEFT >= 0.18)`,
      hint: s.includes("embed_tokens")
        ? 'drop "lm_head": "embed_tokens" already trains the shared table (input embedding and head)'
        : 'write modulesToSave: ["embed_tokens"], which trains the shared table (input embedding and head)',
    });
  const j = s.indexOf("embed_tokens");
  if (j >= 0)
    problems.push({
      severity: "warning",
      code: "sft/tied-modules-to-save",
      path: ["method", "modulesToSave", j],
      message: `the ${cfg.architecture} model ties lm_head to embed_tokens: sftkit trains the one shared table, but PEFT saves embed_tokens alone and, without ensure_weight_tying: true (PEFT >= 0.18), keeps the head on the base table when the adapter loads`,
      hint: 'on PEFT >= 0.18 set "ensure_weight_tying": true in the adapter_config.json before loading the adapter, or use the merged model (save: "merged" or "both")',
    });
  return problems;
}

export const loraMemory = (m: LoraSettings) => ({
  prefixLength: 0,
  frozenLinears: true,
  adapters: { targets: m.targets, rank: m.rank },
  // A frozen head takes no gradient unless new rows train through it (or it trains whole).
  headTrains: (newRows: boolean) =>
    (m.modulesToSave ?? []).some((x) => x === "lm_head" || x === "embed_tokens") ||
    (m.trainNewTokens && newRows),
});

/**
 * LoRA+'s groups as PEFT's create_loraplus_optimizer makes them (src/peft/optimizers/loraplus.py,
 * v0.20.0-47-g5d602fdbf): lora_B and every 1-D parameter (DoRA's magnitudes) at lr·ratio, the rest at lr.
 */
export function loraLearningRateGroups(m: LoraSettings): LearningRateGroup[] {
  if (m.loraPlusRatio === undefined) return [];
  return [
    {
      name: "LoRA+ (lora_B, DoRA magnitudes)",
      pattern: "\\.lora_(B|magnitude_vector)$",
      ratio: m.loraPlusRatio,
    },
  ];
}

/** What LoRA's options ask of an engine beyond plain adapters. */
export function loraEngineFeatures(m: LoraSettings): EngineFeatureUse[] {
  const uses: EngineFeatureUse[] = [];
  if (m.dora) uses.push({ feature: "dora", path: "method.dora" });
  if (m.init) uses.push({ feature: "pissa", path: "method.init" });
  // An engine whose adapter writer has no modules_to_save (cuda) refuses it.
  if (m.modulesToSave) uses.push({ feature: "modules-to-save", path: "method.modulesToSave" });
  return uses;
}

/**
 * PEFT's modules_to_save for `modulesToSave`: module names PEFT matches by suffix (src/peft/utils/other.py,
 * _set_trainable: key.endswith(target)), so `norm` reaches every *norm module. A tied head is the embedding.
 */
export function peftModulesToSave(m: LoraSettings, tied: boolean): string[] {
  const s = m.modulesToSave ?? [];
  return [
    ...(s.includes("embed_tokens") ? ["embed_tokens"] : []),
    ...(s.includes("lm_head") && !tied ? ["lm_head"] : []),
    ...(s.includes("norms") ? ["norm"] : []),
  ];
}

/** PEFT's LoraConfig kwargs (TRL's model.yaml). */
export function loraTrl(m: LoraSettings, f: ExportFacts): TrlMapping {
  const ids = f.newTokenIds;
  return {
    usesPeft: true,
    peft: {
      class: "LoraConfig",
      kwargs: {
        task_type: "CAUSAL_LM",
        r: m.rank,
        lora_alpha: m.alpha,
        lora_dropout: m.dropout,
        target_modules: m.targets === "all-linear" ? "all-linear" : f.targetModules(m.targets),
        use_rslora: m.rslora,
        ...(m.modulesToSave ? { modules_to_save: peftModulesToSave(m, f.tied) } : {}),
        ...(m.dora ? { use_dora: true } : {}),
        ...(m.init ? { init_lora_weights: m.init } : {}),
        ...(ids.length > 0 ? { trainable_token_indices: f.tokenIndices(ids) } : {}),
      },
    },
    notes: [
      ...(m.loraPlusRatio === undefined
        ? []
        : [
            {
              kind: "approximate" as const,
              path: ["method", "loraPlusRatio"],
              message: "TRL's SFTConfig has no LoRA+ setting: lora_B trains at the base learning rate",
              hint: "or use --target axolotl (loraplus_lr_ratio)",
            },
          ]),
      ...pissaSavedNote(m, "TRL"),
    ],
  };
}

/**
 * Trainers save a PiSSA adapter as trained: it applies to the residual base, not to the original one the
 * sftkit adapter (converted as PEFT's save_pretrained(path_initial_model_for_weight_conversion) does) applies to.
 */
function pissaSavedNote(m: LoraSettings, target: string): ExportNote[] {
  if (!m.init) return [];
  return [
    {
      kind: "approximate",
      path: ["method", "init"],
      message: `${target} saves the PiSSA adapter unconverted: it applies to the residual base W - s·B0·A0, not to the original base`,
      hint: "convert it with PeftModel.save_pretrained(out, path_initial_model_for_weight_conversion=<the adapter saved before training>), or use the merged model",
    },
  ];
}

/** Axolotl's LoRA fields, after `adapter` (and a quantized base's fields) the caller sets. */
export function loraAxolotl(
  m: LoraSettings,
  f: ExportFacts & { changedSpecialTokens: ("bos" | "eos")[] },
  fields: Record<string, unknown>,
): AxolotlMapping {
  const notes: ExportNote[] = [];
  const header: string[] = [];
  fields.lora_r = m.rank;
  fields.lora_alpha = m.alpha;
  fields.lora_dropout = m.dropout;
  if (m.targets === "all-linear") fields.lora_target_linear = true;
  else fields.lora_target_modules = f.targetModules(m.targets);
  fields.peft_use_rslora = m.rslora;
  if (m.dora) fields.peft_use_dora = true;
  if (m.init) fields.peft_init_lora_weights = m.init;
  notes.push(...pissaSavedNote(m, "Axolotl"));
  if (m.loraPlusRatio !== undefined) fields.loraplus_lr_ratio = m.loraPlusRatio;
  if (m.modulesToSave) fields.lora_modules_to_save = peftModulesToSave(m, f.tied);
  const changed = f.changedSpecialTokens;
  if (changed.length > 0) {
    // Axolotl refuses an adapter run that sets bos/eos to a new token unless both embedding modules are saved.
    const asked = (fields.lora_modules_to_save as string[] | undefined) ?? [];
    fields.lora_modules_to_save = [...new Set([...asked, "embed_tokens", "lm_head"])];
    notes.push({
      kind: "approximate",
      path: ["tokens", changed[0]!],
      message:
        "Axolotl needs lora_modules_to_save [embed_tokens, lm_head] when an adapter run sets a special token to a new one: the whole embedding and lm_head train, not only the new rows",
      hint: "or use --target trl (PEFT trainable tokens)",
    });
  } else if (f.newTokenIds.length > 0) {
    // A dict keyed by module (Axolotl src/axolotl/utils/schemas/peft.py@629bafbb68c6) reaches an untied lm_head.
    fields.peft_trainable_token_indices = f.tokenIndices(f.newTokenIds);
    header.push(
      `The new tokens' rows train as PEFT trainable tokens: needs peft>=${MIN_PEFT_TRAINABLE_TOKENS}.`,
    );
  }
  return { fields, notes, header };
}

export const lora: MethodDefinition<LoraMethod> = {
  kind: "lora",
  schema: loraSchema,
  label: "LoRA",
  adapter: "lora",
  mergeable: true,
  defaultLearningRate: 2e-4,
  learningRates: "adapter",
  trainsTensor: loraTrainsTensor,
  newTokenRows: loraNewTokenRows,
  addedRowsLearn: loraAddedRowsLearn,
  quantizedBase: () => null,
  addedParameters: loraParameters,
  check: (m) => checkPissa(m, false),
  checkModel: (m, cfg) => [...checkLoraTargets(m, cfg), ...checkTiedModules(m, cfg)],
  memory: loraMemory,
  engineFeatures: loraEngineFeatures,
  learningRateGroups: loraLearningRateGroups,
  pieces: (m) => ({ lora: m }),
  exports: {
    trl: loraTrl,
    axolotl: (m, f) => loraAxolotl(m, f, { adapter: "lora" }),
  },
};
