// Target `axolotl`: axolotl.yaml (field names from Axolotl's pydantic schema, see axolotl-fields.json), the
// prepared rows as JSONL, the chat template as a .jinja file, and a DeepSpeed JSON or FSDP settings from `scale`.
import type { Problem } from "../recipe/diagnostics.ts";
import fields from "./axolotl-fields.json" with { type: "json" };
import { axolotlUnfrozenParameters } from "./axolotl-patterns.ts";
import {
  activationCheckpointing,
  approximate,
  decoderLayerClass,
  deepspeedConfig,
  jsonl,
  MIN_PEFT_TRAINABLE_TOKENS,
  microBatchSize,
  modelReference,
  precision,
  scheduler,
  targetModuleNames,
  tokenizerReference,
  trainableTokenIndices,
  trainedNewTokens,
  trainingFlags,
  unsupported,
  warmupSteps,
} from "./common.ts";
import type { ExportRow } from "./data.ts";
import type { ExportContext, TargetOutput } from "./types.ts";
import { toYaml } from "./yaml.ts";

export const AXOLOTL_VERSION = fields.version;
const TEMPLATE_FILE = "chat_template.jinja";
type Kind = ExportRow["converted"]["kind"];
const fileOf = (split: "train" | "eval", kind: Kind) => `data/${split}.${kind}.jsonl`;

export function exportAxolotl(ctx: ExportContext): TargetOutput {
  const { recipe, resolved, plan } = ctx;
  const t = recipe.train;
  const method = recipe.method;
  const problems: Problem[] = [];
  const files: Record<string, string> = {};
  const cfg: Record<string, unknown> = {};

  // Model and tokenizer.
  const source = plan.model.source;
  if (source.kind === "architecture") {
    problems.push(
      unsupported(
        ["model", "architecture"],
        "a randomly initialised `architecture` model has no checkpoint for Axolotl to load",
        "save it as a Hugging Face folder and point `model.path` at it",
      ),
    );
  }
  cfg.base_model = modelReference(ctx);
  if (source.kind === "hub" && source.revision)
    problems.push(
      approximate(["model", "revision"], "Axolotl loads the hub model's default revision, not this one"),
    );
  const tokenizer = tokenizerReference(ctx);
  if (tokenizer !== null) cfg.tokenizer_config = tokenizer;

  // Method.
  const newTokens = trainedNewTokens(ctx);
  const axolotlIds = tokenIds(ctx);
  const newTokenIds = newTokens.map((n) => axolotlIds.get(n.content) ?? n.id);
  const header: string[] = [];
  if (method.kind === "prefix") {
    problems.push(
      unsupported(
        ["method", "kind"],
        "Axolotl has no prefix tuning (P-tuning v2)",
        "export this recipe with --target trl (PEFT PrefixTuningConfig)",
      ),
    );
  } else if (method.kind === "lora" || method.kind === "qlora") {
    cfg.adapter = method.kind;
    if (method.kind === "qlora") {
      cfg.load_in_4bit = true;
      // Axolotl's 4-bit loader defaults may change; state NF4 and double quantization explicitly.
      cfg.bnb_config_kwargs = {
        bnb_4bit_quant_type: "nf4",
        bnb_4bit_use_double_quant: method.quantization.doubleQuant,
        // FSDP and ZeRO-3 shard the packed 4-bit weights only when they are stored in the training dtype;
        // Axolotl's default storage is bfloat16 (src/axolotl/loaders/model.py@5749095e64ac).
        ...(["fsdp", "zero3"].includes(recipe.scale.strategy)
          ? { bnb_4bit_quant_storage: torchDtype(recipe) }
          : {}),
      };
    }
    cfg.lora_r = method.rank;
    cfg.lora_alpha = method.alpha;
    cfg.lora_dropout = method.dropout;
    if (method.targets === "all-linear") cfg.lora_target_linear = true;
    else cfg.lora_target_modules = targetModuleNames(ctx.plan, method.targets);
    cfg.peft_use_rslora = method.rslora;
    const changed = changedSpecialTokens(ctx);
    if (changed.length > 0) {
      // Axolotl refuses an adapter run that sets bos/eos to a new token unless both embedding modules are saved.
      cfg.lora_modules_to_save = ["embed_tokens", "lm_head"];
      problems.push(
        approximate(
          ["tokens", changed[0]!],
          "Axolotl needs lora_modules_to_save [embed_tokens, lm_head] when an adapter run sets a special token to a new one: the whole embedding and lm_head train, not only the new rows",
          "or use --target trl (PEFT trainable tokens)",
        ),
      );
    } else if (newTokens.length > 0) {
      // A dict keyed by module (Axolotl src/axolotl/utils/schemas/peft.py@629bafbb68c6) reaches an untied lm_head.
      cfg.peft_trainable_token_indices = trainableTokenIndices(ctx, newTokenIds);
      header.push(
        `The new tokens' rows train as PEFT trainable tokens: needs peft>=${MIN_PEFT_TRAINABLE_TOKENS}.`,
      );
    }
  } else if (method.kind === "partial" || method.kind === "frozen") {
    const rows = method.kind === "frozen" ? newTokenIds : [];
    const unfrozen = axolotlUnfrozenParameters(ctx, rows);
    // An empty list reads as unset in Axolotl: every parameter would train.
    if (unfrozen.length === 0)
      problems.push(
        unsupported(
          ["method"],
          "the method trains no parameter here, and Axolotl reads an empty unfrozen_parameters as 'train everything'",
        ),
      );
    else cfg.unfrozen_parameters = unfrozen;
    if (rows.length > 0 && t.optimizer.weightDecay > 0)
      problems.push(
        approximate(
          ["train", "optimizer", "weightDecay"],
          "Axolotl trains only the new tokens' rows by zeroing the other rows' gradients, but AdamW's weight decay still shrinks the whole embedding",
          "use --target trl (PEFT trainable tokens), or weightDecay: 0",
        ),
      );
  }

  // Tokens: Axolotl adds `special_tokens` first, then `tokens`, each new one at the next id.
  const special = specialTokens(ctx);
  if (Object.keys(special).length > 0) cfg.special_tokens = special;
  const added = resolved.added.filter((a) => a.isNew);
  if (added.length > 0) {
    cfg.tokens = added.map((a) => a.content);
    cfg.mean_resizing_embeddings = true;
    added.forEach((a) => {
      const lost = [
        a.special
          ? "it is a regular added token (never split, but not skipped as special when decoding)"
          : "",
        a.init !== "mean" ? `its row starts at the mean embedding, not \`${a.init}\`` : "",
      ].filter(Boolean);
      if (lost.length > 0)
        problems.push(
          approximate(
            ["tokens", "add", resolved.added.indexOf(a)],
            `in Axolotl, \`${a.content}\`: ${lost.join("; ")}`,
          ),
        );
    });
  }

  // Data: one dataset per row kind, in the format its YAML entry declares.
  if (t.eos === "none")
    problems.push(
      unsupported(
        ["train", "eos"],
        'Axolotl always trains an end-of-turn token (train_on_eos: "turn" | "last" | "all")',
        'use eos: "turn" or "last"',
      ),
    );
  const truncated = plan.data.sources.reduce(
    (a, s) => a + (t.overLength === "truncate" ? s.overLength : 0),
    0,
  );
  if (truncated > 0)
    problems.push(
      unsupported(
        ["train", "overLength"],
        `${truncated} sample(s) were truncated to maxLength; Axolotl drops over-long samples instead`,
        'raise train.maxLength, or use overLength: "drop"',
      ),
    );
  if (t.eval.maxSamples !== undefined)
    problems.push(approximate(["train", "eval", "maxSamples"], "Axolotl evaluates on the whole eval split"));

  const datasets = (split: "train" | "eval", rows: ExportRow[]) => {
    const entries: Record<string, unknown>[] = [];
    for (const kind of ["chat", "text", "ids"] as const) {
      const ofKind = rows.filter((r) => r.converted.kind === kind);
      if (ofKind.length === 0) continue;
      const path = fileOf(split, kind);
      files[path] = jsonl(ofKind.map((r) => axolotlRow(r, recipe.train.lossOn)));
      entries.push(datasetEntry(kind, path, ctx));
    }
    return entries;
  };
  cfg.datasets = datasets("train", ctx.data.train);
  const testDatasets = datasets("eval", ctx.data.eval);
  if (testDatasets.length > 0) {
    cfg.test_datasets = testDatasets;
    if (t.eval.every !== undefined) cfg.eval_steps = t.eval.every;
  }
  cfg.val_set_size = 0;
  cfg.dataset_prepared_path = "prepared";
  if (resolved.template) {
    files[TEMPLATE_FILE] = resolved.template.text;
    cfg.chat_template = "jinja";
    cfg.chat_template_jinja = TEMPLATE_FILE;
  }
  // The token closing assistant turns may not be the tokenizer's EOS: Axolotl trains it as an end-of-turn token.
  if (resolved.endOfTurn) cfg.eot_tokens = [resolved.endOfTurn];
  cfg.train_on_inputs = t.lossOn === "all";
  cfg.sequence_len = t.maxLength;
  cfg.sample_packing = t.packing;
  if (t.packing) {
    cfg.pad_to_sequence_len = true;
    // sftkit packs with block-diagonal attention; flash attention keeps packed samples apart the same way.
    // (`flash_attention: true` is deprecated for attn_implementation, src/axolotl/utils/schemas/config.py.)
    cfg.attn_implementation = "flash_attention_2";
  }

  // Optimisation.
  cfg.micro_batch_size = microBatchSize(recipe);
  cfg.gradient_accumulation_steps = t.gradientAccumulation;
  if (t.steps !== undefined) cfg.max_steps = t.steps;
  else cfg.num_epochs = t.epochs ?? 1;
  cfg.learning_rate = plan.optimizer.learningRate;
  const sched = scheduler(recipe, problems);
  cfg.lr_scheduler = sched.name;
  if (sched.minRatio !== null) cfg.cosine_min_lr_ratio = sched.minRatio;
  cfg.warmup_steps = warmupSteps(ctx);
  cfg.optimizer = "adamw_torch";
  cfg.adam_beta1 = t.optimizer.betas[0];
  cfg.adam_beta2 = t.optimizer.betas[1];
  cfg.adam_epsilon = t.optimizer.eps;
  cfg.weight_decay = t.optimizer.weightDecay;
  cfg.max_grad_norm = t.clipNorm;
  cfg.seed = t.seed;
  if (t.checkpointEvery !== undefined) cfg.save_steps = t.checkpointEvery;
  cfg.output_dir = "outputs";

  // Scale.
  const p = precision(recipe);
  cfg.bf16 = p.bf16;
  cfg.fp16 = p.fp16;
  cfg.tf32 = false;
  if (recipe.scale.strategy === "fsdp") {
    cfg.gradient_checkpointing = false;
    // FSDP2 spellings (docs/multi-gpu.qmd, src/axolotl/utils/schemas/fsdp.py@df327bb32b95): a top-level
    // fsdp_version and unprefixed fsdp_config keys; the `fsdp:` list and `fsdp_`-prefixed keys are FSDP1's.
    cfg.fsdp_version = 2;
    cfg.fsdp_config = {
      auto_wrap_policy: "TRANSFORMER_BASED_WRAP",
      transformer_layer_cls_to_wrap: decoderLayerClass(plan),
      offload_params: recipe.scale.cpuOffload,
      cpu_ram_efficient_loading: true,
      reshard_after_forward: true,
      state_dict_type: "FULL_STATE_DICT",
      // Axolotl rejects gradient_checkpointing together with FSDP's own activation checkpointing.
      activation_checkpointing: activationCheckpointing(recipe),
    };
  } else {
    cfg.gradient_checkpointing = activationCheckpointing(recipe);
    cfg.deepspeed = "deepspeed.json";
    files["deepspeed.json"] = `${JSON.stringify(deepspeedConfig(recipe), null, 2)}\n`;
  }

  files["axolotl.yaml"] = toYaml(cfg, [
    `Generated by \`sft export --target axolotl\` from ${plan.recipe.name} (recipe hash ${plan.recipe.hash.slice(0, 12)}).`,
    `Field names: ${fields.repository} ${fields.version} (src/axolotl/utils/schemas/).`,
    "Run from this folder: ./launch.sh",
    ...header,
  ]);
  files["launch.sh"] = launchScript(recipe.scale.nodes, recipe.scale.gpusPerNode);
  return {
    files,
    problems,
    engine: { name: "axolotl", repository: fields.repository, version: fields.version },
  };
}

function axolotlRow(r: ExportRow, lossOn: ExportContext["recipe"]["train"]["lossOn"]): unknown {
  const c = r.converted;
  if (c.kind === "text") return { text: c.text };
  if (c.kind === "ids")
    return { input_ids: c.inputIds, attention_mask: c.inputIds.map(() => 1), labels: c.labels };
  const flags = lossOn === "all" ? [] : trainingFlags(c.conversation, lossOn);
  return {
    messages: c.conversation.messages.map(({ train: _train, ...m }, i) => {
      const training = flags[i];
      return training === undefined ? m : { ...m, training };
    }),
    ...(c.conversation.tools ? { tools: c.conversation.tools } : {}),
  };
}

function datasetEntry(kind: Kind, path: string, ctx: ExportContext): Record<string, unknown> {
  const base = { path, ds_type: "json", split: "train" };
  if (kind === "text") return { ...base, type: "completion", field: "text" };
  // Pre-tokenized rows (input_ids, attention_mask, labels) take no `type`.
  if (kind === "ids") return base;
  const t = ctx.recipe.train;
  return {
    ...base,
    type: "chat_template",
    chat_template: "jinja",
    chat_template_jinja: TEMPLATE_FILE,
    field_messages: "messages",
    message_property_mappings: { role: "role", content: "content" },
    ...(t.lossOn === "all" ? {} : { message_field_training: "training" }),
    roles_to_train: t.lossOn === "all" ? ["system", "user", "assistant", "tool"] : ["assistant"],
    train_on_eos: t.lossOn === "all" ? "all" : t.eos === "last" ? "last" : "turn",
  };
}

function torchDtype(recipe: ExportContext["recipe"]): string {
  const p = precision(recipe);
  return p.bf16 ? "bfloat16" : p.fp16 ? "float16" : "float32";
}

/** bos/eos/pad the recipe overrides, by text. */
function specialTokens(ctx: ExportContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const role of ["bos", "eos", "pad"] as const) {
    const fact = ctx.plan.tokenizer[role];
    if (ctx.recipe.tokens[role] !== undefined && fact) out[`${role}_token`] = fact.text;
  }
  return out;
}

/** bos/eos overrides that name a token new to the vocabulary (Axolotl checks these; pad is exempt). */
function changedSpecialTokens(ctx: ExportContext): ("bos" | "eos")[] {
  const isNew = new Set(ctx.resolved.added.filter((a) => a.isNew).map((a) => a.content));
  const special = specialTokens(ctx);
  return (["bos", "eos"] as const).filter((role) => {
    const text = special[`${role}_token`];
    return text !== undefined && isNew.has(text);
  });
}

/** The ids Axolotl gives new tokens: special_tokens values first, then `tokens`, in order. */
function tokenIds(ctx: ExportContext): Map<string, number> {
  const ids = new Map<string, number>();
  const isNew = new Set(ctx.resolved.added.filter((a) => a.isNew).map((a) => a.content));
  let next = ctx.resolved.tokenizerVocab ?? 0;
  const texts = [...Object.values(specialTokens(ctx)), ...ctx.resolved.added.map((a) => a.content)];
  for (const text of texts) if (isNew.has(text) && !ids.has(text)) ids.set(text, next++);
  return ids;
}

function launchScript(nodes: number, gpusPerNode: number): string {
  return `#!/usr/bin/env bash
# Generated by \`sft export --target axolotl\`. On each of the ${nodes} node(s), run from this folder with
# MACHINE_RANK (0..${nodes - 1}) and MAIN_PROCESS_IP (node 0's address) set.
set -euo pipefail
cd "$(dirname "$0")"
exec accelerate launch \\
  --num_machines ${nodes} \\
  --num_processes ${nodes * gpusPerNode} \\
  --machine_rank "\${MACHINE_RANK:-0}" \\
  --main_process_ip "\${MAIN_PROCESS_IP:-127.0.0.1}" \\
  --main_process_port "\${MAIN_PROCESS_PORT:-29500}" \\
  -m axolotl.cli.train axolotl.yaml
`;
}
