// Every diagnostic code sftkit can report, errors and warnings, in one typed table. docs/diagnostics.md is
// generated from it (`pnpm docs:gen`), `Problem.code` is typed by it (a misspelt code does not compile), and
// recipe/catalogue.test.ts checks that the source emits exactly the codes listed here.
// Codes are stable: docs, plans and recipes' `acknowledge` lists refer to them, so never rename one.

/** Where in `sft plan` / `sft export` a code is found. */
export const diagnosticStages = {
  load: "importing `recipe.ts`",
  parse: "the recipe schema (types, ranges, unknown keys)",
  check: "rules across the parsed recipe (tokens, method, train), before any file is read",
  resolve: "the model, tokenizer, chat template and data paths the recipe names",
  data: "reading, rendering and tokenizing the data",
  plan: "the plan's estimates (memory)",
  export: "`sft export` to another trainer",
} as const;

export type DiagnosticStage = keyof typeof diagnosticStages;

export interface CatalogueEntry {
  severity: "error" | "warning";
  /** The stages that emit it, in pipeline order. */
  stages: readonly DiagnosticStage[];
  /** One line: the recipe reference's text and, for warnings, the default message. */
  summary: string;
  /** What it means on the troubleshooting page, when that says more than `summary`. */
  means?: string;
  /** What to do about it. */
  fix: string;
  /**
   * An error a recipe may accept by listing its code in `acknowledge`: it is then reported as an acknowledged
   * warning (kept in the plan, not printed). Every warning is acknowledgeable.
   */
  acknowledgeable?: true;
}

export const diagnosticCatalogue = {
  // Errors, in pipeline order.
  "sft/recipe-load": {
    severity: "error",
    stages: ["load"],
    summary: "the recipe module failed to import (syntax error, a throw, no default export)",
    fix: "fix the reported line; end with `export default defineRecipe({...})`",
  },
  "sft/unknown-key": {
    severity: "error",
    stages: ["parse"],
    summary: "a key the schema does not have (typo, or a field of another method kind)",
    fix: "use the suggested key; move method fields to the right `kind`",
  },
  "sft/missing": {
    severity: "error",
    stages: ["parse"],
    summary: "a required field is absent",
    fix: "add it (see the reference)",
  },
  "sft/invalid-type": {
    severity: "error",
    stages: ["parse"],
    summary: 'a value of the wrong type (`"3e-4"` for a number)',
    fix: "write the right type",
  },
  "sft/invalid-value": {
    severity: "error",
    stages: ["parse"],
    summary: 'not one of the allowed values (`"cosin"`, `kind: "lorra"`)',
    fix: "use the suggested value",
  },
  "sft/out-of-range": {
    severity: "error",
    stages: ["parse"],
    summary: "a number outside its range (`rank: 0`, `dropout: 1.5`)",
    fix: "use a value in range",
  },
  "sft/invalid-format": {
    severity: "error",
    stages: ["parse"],
    summary: "a string of the wrong shape (hub id without `ORG/`)",
    fix: "follow the format in the message",
  },
  "sft/invalid": {
    severity: "error",
    stages: ["parse"],
    summary:
      "a rule across fields of one part (both `weight` and `samples`, two model sources, a micro-batch smaller than `maxLength`)",
    fix: "follow the message",
  },
  "sft/partial-empty": {
    severity: "error",
    stages: ["parse"],
    summary: "a `partial` method selects nothing",
    fix: "set `lastLayers`, `layerRanges` or `modules`",
  },
  "sft/duplicate-token": {
    severity: "error",
    stages: ["check"],
    summary: "the same token twice in `tokens.add`",
    fix: "remove the duplicate",
  },
  "sft/missing-description": {
    severity: "error",
    stages: ["check"],
    summary: "init `describe` without a `description`",
    fix: "add `description`",
  },
  "sft/unknown-token": {
    severity: "error",
    stages: ["check", "resolve"],
    summary: "a token name not in `tokens.add`, or `{ vocab }` / `{ id }` not in the vocabulary",
    fix: 'fix the name; name existing tokens with `{ vocab: "..." }`',
  },
  "sft/pad-is-eos": {
    severity: "error",
    stages: ["check"],
    summary: "the pad token is the EOS, so masking padding would mask the EOS",
    fix: "use a separate pad token",
  },
  "sft/nothing-trains": {
    severity: "error",
    stages: ["check"],
    summary: "a `frozen` method with nothing trainable",
    fix: "add tokens, or set `lmHead` / `norms`",
  },
  "sft/probes-name": {
    severity: "error",
    stages: ["check"],
    summary: "a data source is named `probes`, which the knowledge probes use",
    fix: "rename the source",
  },
  "sft/method-conflict": {
    severity: "error",
    stages: ["check"],
    summary: "method options that do not combine (PiSSA `init` on a qlora NF4 base, PiSSA with DoRA)",
    fix: "drop one of them (the hint says which); PiSSA runs on `lora` without `dora`",
  },
  "sft/layers-out-of-range": {
    severity: "error",
    stages: ["resolve"],
    summary:
      "a `partial` method selects layers the model does not have (`lastLayers: 99` on a 5-layer model)",
    fix: "select layers below the model's `num_hidden_layers` (the hint gives it)",
  },
  "sft/model-not-found": {
    severity: "error",
    stages: ["resolve"],
    summary: "the model folder, its `config.json`, or the hub id in the local cache is missing",
    fix: "fix the path; sftkit never downloads",
  },
  "sft/bad-model-config": {
    severity: "error",
    stages: ["resolve"],
    summary: "`config.json` cannot be used (unsupported `model_type`, a bad field)",
    fix: "use a checkpoint of a supported family: llama, qwen2, mistral, qwen3, gemma2, gemma3_text or phi3 (docs/models.md)",
  },
  "sft/bad-weights": {
    severity: "error",
    stages: ["resolve"],
    summary:
      "the model's safetensors do not match `config.json`: a tensor missing or of another shape or dtype, a truncated or damaged file, a bad shard index (checked from the headers, no tensor read)",
    fix: "re-download or re-export the model; the message names the file and the tensor",
  },
  "sft/bad-architecture": {
    severity: "error",
    stages: ["resolve"],
    summary: "an inline architecture is inconsistent (heads do not divide the width)",
    fix: "fix the sizes",
  },
  "sft/already-quantized": {
    severity: "error",
    stages: ["resolve"],
    summary: "`qlora` over a checkpoint that is already quantized",
    fix: "use `lora`, or the unquantized weights",
  },
  "sft/eos-not-emitted": {
    severity: "error",
    stages: ["resolve"],
    summary:
      "the end marker the template writes after assistant turns is not ONE token, or not the declared `tokens.eos` (e.g. chatml's end marker on a tokenizer that lacks it): no stop token trains",
    fix: "add the marker to `tokens.add` and use it as `eos`, or a template whose end marker is the EOS (the hint names both)",
  },
  "sft/no-tokenizer": {
    severity: "error",
    stages: ["resolve"],
    summary: "no `tokenizer.json` (or, for an inline `architecture`, no `tokenizer` folder)",
    fix: "set `tokenizer` to a folder with one",
  },
  "sft/bad-tokenizer": {
    severity: "error",
    stages: ["resolve"],
    summary: "the `tokenizer.json` cannot be loaded",
    fix: "set `tokenizer` to a folder with a usable one",
  },
  "sft/no-chat-template": {
    severity: "error",
    stages: ["resolve"],
    summary: "chat data, but the tokenizer has no chat template",
    fix: "choose a built-in template or give `{ jinja }`",
  },
  "sft/template-not-found": {
    severity: "error",
    stages: ["resolve"],
    summary: "the template file is missing, or is a folder",
    fix: "fix the path",
  },
  "sft/template-error": {
    severity: "error",
    stages: ["resolve"],
    summary: "the template fails to render",
    fix: "fix the template",
  },
  "sft/eos-impossible": {
    severity: "error",
    stages: ["resolve"],
    summary: "`train.eos` asks to train an end-of-turn token the template never emits",
    fix: 'use a template that closes assistant turns, or `eos: "none"`',
  },
  "sft/data-not-found": {
    severity: "error",
    stages: ["resolve"],
    summary: "a data file, folder or glob matches nothing",
    fix: "fix the path (relative to the recipe)",
  },
  "sft/template-drops-feature": {
    severity: "error",
    stages: ["data"],
    acknowledgeable: true,
    summary:
      "The chat template renders nothing of a feature in the data (tool calls, tool definitions, a system message). Acknowledged, those rows train without it, and tool-call turns it drops stay out of the loss.",
    means:
      "the template has no place for tool calls, `tools` or a system message in the data (the row renders the same without)",
    fix: "a template with it (tools: built-in `chatml`/`qwen2.5`/`llama-3`)",
  },
  "sft/bad-data": {
    severity: "error",
    stages: ["data"],
    summary: "rows that do not fit the format (`file:line: field ...`)",
    fix: 'fix the rows, or `onBadRow: "skip"`',
  },
  "sft/empty-source": {
    severity: "error",
    stages: ["data"],
    summary: "a source has no rows (an empty file, or filters that keep none)",
    fix: "fix its path, file or filters, or remove it",
  },
  "sft/no-train-samples": {
    severity: "error",
    stages: ["data"],
    summary: "a source keeps no training sample (all too long, filtered or held out)",
    fix: "raise `maxLength`, loosen filters",
  },
  "sft/prompt-exceeds-max-length": {
    severity: "error",
    stages: ["data"],
    summary: "truncation would leave samples with no trained token",
    fix: 'raise `maxLength`, or `overLength: "drop"`',
  },
  "sft/data": {
    severity: "error",
    stages: ["data"],
    summary: "the data pipeline failed as a whole",
    fix: "see the message",
  },
  "sft/export-unsupported": {
    severity: "error",
    stages: ["export"],
    summary: "`sft export`: the target cannot express part of the recipe (e.g. `prefix` to Axolotl)",
    fix: "use the other target, or change the recipe",
  },
  "sft/export-target": {
    severity: "error",
    stages: ["export"],
    summary: "`sft export`: an unknown target",
    fix: "use a target the message names",
  },
  "sft/export-data": {
    severity: "error",
    stages: ["export"],
    summary: "`sft export`: data that cannot be re-read",
    fix: "follow the message",
  },
  "sft/export-write": {
    severity: "error",
    stages: ["export"],
    summary: "`sft export`: an output folder that cannot be written",
    fix: "check the folder's path and permissions",
  },

  // Warnings.
  "sft/eos-not-trained": {
    severity: "warning",
    stages: ["check"],
    summary: "No end-of-turn/EOS token is trained, so the model never learns to stop.",
    means: '`train.eos: "none"`: the model never learns to stop',
    fix: '`eos: "turn"` (default)',
  },
  "sft/truncation-cuts-eos": {
    severity: "warning",
    stages: ["check"],
    summary: "overLength `truncate` cuts the end of long samples, EOS included.",
    means: '`overLength: "truncate"` cuts the end of long samples, EOS included',
    fix: '`overLength: "drop"`',
  },
  "sft/no-eval-split": {
    severity: "warning",
    stages: ["check"],
    summary: "No source holds out an eval split, so there is no eval loss.",
    means: "no source holds out eval rows, so there is no eval loss",
    fix: "`eval: 0.05` on a source",
  },
  "sft/new-tokens-untrained": {
    severity: "warning",
    stages: ["check"],
    summary: "Added tokens keep their initial embedding because the method does not train their rows.",
    means: "added tokens keep their initial rows because the method does not train them",
    fix: "`trainNewTokens: true` (LoRA) or `embeddings: true` (partial)",
  },
  "sft/heavy-upsampling": {
    severity: "warning",
    stages: ["check"],
    summary: "A source is repeated more than 3 times per epoch; the model may memorise it.",
    means: "a source repeats more than 3× per epoch",
    fix: "lower its weight, or accept it",
  },
  "sft/samples-dropped": {
    severity: "warning",
    stages: ["data"],
    summary: "Samples longer than maxLength are dropped.",
    means: "samples longer than `maxLength` are dropped (counted in the plan)",
    fix: "raise `maxLength` if they matter",
  },
  "sft/rows-skipped": {
    severity: "warning",
    stages: ["data"],
    summary: "Rows that do not fit the format are skipped.",
    means: 'rows that do not fit the format are skipped (`onBadRow: "skip"`)',
    fix: "fix the rows",
  },
  "sft/empty-turns": {
    severity: "warning",
    stages: ["data"],
    summary: "Rows with an empty user or assistant turn are dropped (`filters.dropEmpty`).",
    means:
      "a conversation has an empty user or assistant turn somewhere (an empty answer would train an instant end of turn); such rows are dropped, counted, and the first is named",
    fix: "fill or remove the empty turns; `filters: { dropEmpty: false }` keeps them",
  },
  "sft/high-learning-rate": {
    severity: "warning",
    stages: ["check"],
    summary: "The learning rate is high for this method.",
    means: "a learning rate high for the method",
    fix: "full/partial: 1e-5–5e-5; adapters: 1e-4–1e-3",
  },
  "sft/memory-exceeds-device": {
    severity: "warning",
    stages: ["plan"],
    summary: "The memory estimate exceeds the memory of the chosen device.",
    means: "the memory estimate exceeds the device (wasm: 4 GiB)",
    fix: "smaller micro-batch + accumulation, or gradient checkpointing",
  },
  "sft/slow-backend": {
    severity: "warning",
    stages: ["check"],
    summary: "The chosen backend is a slow debugging fallback.",
    means: "the pure-JS `cpu` backend was chosen",
    fix: '`engine: "auto"` or `"tfjs/wasm"`',
  },
  "sft/backend-deprecated": {
    severity: "warning",
    stages: ["check"],
    summary: "`train.backend` is deprecated: name the engine and its backend in `train.engine`.",
    means: "`train.backend` is deprecated (it still picks the tfjs backend)",
    fix: '`engine: "tfjs/<backend>"`',
  },
  "sft/cache-unavailable": {
    severity: "warning",
    stages: ["data"],
    summary: "The tokenized-data cache could not be read or written; data is tokenized anew.",
    fix: "check the permissions of `data.cacheDir`",
  },
  "sft/tied-modules-to-save": {
    severity: "warning",
    stages: ["resolve"],
    summary:
      "`modulesToSave` names lm_head or embed_tokens on a model with tied embeddings (`tie_word_embeddings`)",
    means:
      "the head is the embedding: `lm_head` alone trains nothing, and `embed_tokens` trains the shared table, which PEFT keeps tied only with `ensure_weight_tying: true` (PEFT >= 0.18)",
    fix: 'write `modulesToSave: ["embed_tokens"]`; load the adapter with ensure_weight_tying, or use the merged model',
  },
  "sft/export-approximate": {
    severity: "warning",
    stages: ["export"],
    summary: "An export target can only approximate part of the recipe (see the message).",
    means: "`sft export`: the target approximates part of the recipe (the message says what)",
    fix: "check the exported config",
  },
  "sft/token-not-in-template": {
    severity: "warning",
    stages: ["data"],
    summary:
      "A token in `tokens.add` is never written by the template nor found in the data, so it never trains.",
    means:
      "an added token that the template (probed with a system message) never writes and no sample contains",
    fix: "drop it, or a template that writes it",
  },
  "sft/token-exists": {
    severity: "warning",
    stages: ["resolve"],
    summary: "A token in `tokens.add` is already in the vocabulary; it keeps its id and embedding.",
    means: "an added token is already in the vocabulary; it keeps its id and embedding",
    fix: "nothing, or drop it from `tokens.add`",
  },
} as const satisfies Record<`sft/${string}`, CatalogueEntry>;

type Catalogue = typeof diagnosticCatalogue;
export type DiagnosticCode = keyof Catalogue;

export type WarningId = {
  [C in DiagnosticCode]: Catalogue[C]["severity"] extends "warning" ? C : never;
}[DiagnosticCode];

export type AcknowledgeableErrorId = {
  [C in DiagnosticCode]: Catalogue[C] extends { acknowledgeable: true } ? C : never;
}[DiagnosticCode];

export type AcknowledgeableId = WarningId | AcknowledgeableErrorId;

/** The `params` of a custom zod issue: parse turns it into a Problem with this code and hint. */
export interface CustomIssueParams {
  code?: DiagnosticCode;
  hint?: string;
}

export const diagnosticCodes = Object.keys(diagnosticCatalogue) as DiagnosticCode[];

export function catalogueEntry(code: DiagnosticCode): CatalogueEntry {
  return diagnosticCatalogue[code];
}

export function isAcknowledgeable(code: DiagnosticCode): code is AcknowledgeableId {
  const entry = catalogueEntry(code);
  return entry.severity === "warning" || entry.acknowledgeable === true;
}
