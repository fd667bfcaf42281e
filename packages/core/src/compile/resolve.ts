// resolve: the parsed recipe + the file system -> plain facts (model config, tokenizer, template, data files).
// Every problem is collected with its recipe path; nothing here holds tensors.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve as resolvePath } from "node:path";
import { endOfTurnTokens, probeUndefined, renderProbeWithSystem } from "../data/labels/index.ts";
import { type ProbeFact, probeFacts } from "../data/probes.ts";
import { resolveFiles } from "../data/readers/index.ts";
import { builtinTemplates } from "../data/template/builtins.ts";
import { ChatTemplateError } from "../data/template/render.ts";
import { loadTokenizer, type Tokenizer } from "../data/tokenizer/index.ts";
import { methodDefinition } from "../methods/registry.ts";
import { type ModelConfig, parseHfConfig, readHfConfig } from "../model/config.ts";
import { resolveHubModel } from "../model/hub-cache.ts";
import { checkWeightFiles } from "../model/safetensors-check.ts";
import type { DiagnosticCode, PathSegment, Problem } from "../recipe/diagnostics.ts";
import { type PathOrigin, relativeToHint } from "../recipe/origins.ts";
import type { Recipe } from "../recipe/schema/recipe.ts";
import { endTokenProblems } from "./end-token.ts";

export interface ResolvedModel {
  source: {
    kind: "path" | "hub" | "architecture";
    path: string | null;
    hub: string | null;
    revision: string | null;
  };
  dir: string | null;
  config: ModelConfig;
  /** The checkpoint is already quantized (config.json has a quantization_config). */
  quantized: boolean;
}

export interface AddedToken {
  content: string;
  special: boolean;
  init: "mean" | "noise" | "describe";
  description: string | null;
  /** Its id once added (null without a tokenizer). */
  id: number | null;
  /** False when the vocabulary already had it. */
  isNew: boolean;
}

export interface ResolvedTemplate {
  source: "model" | "builtin" | "inline" | "file";
  name: string | null;
  text: string;
  /** Where the text came from, for messages: a file, the recipe's `template.jinja`, a built-in. */
  origin: string;
}

export interface ResolvedRecipe {
  recipe: Recipe;
  file: string | null;
  baseDir: string;
  name: string;
  model: ResolvedModel | null;
  tokenizerDir: string | null;
  tokenizer: Tokenizer | null;
  /** Vocabulary size before the recipe's tokens were added. */
  tokenizerVocab: number | null;
  added: AddedToken[];
  template: ResolvedTemplate | null;
  /** The token the template puts after every assistant turn, when that is exactly one vocabulary token. */
  endOfTurn: string | null;
  /** Indices into tokens.add of tokens the template never writes (the data stage checks the data for them). */
  notInTemplate: number[];
  /** Knowledge probes (facts keyed on fresh tokens), when the recipe has them. */
  probes: ProbeFact[] | null;
  outputDir: string;
}

export interface ResolveResult {
  resolved: ResolvedRecipe;
  problems: Problem[];
}

/** `foreign`: the path fields another file wrote (already absolute from that file's folder), for hints. */
export async function resolveRecipe(
  recipe: Recipe,
  file: string | null,
  foreign: readonly PathOrigin[] = [],
): Promise<ResolveResult> {
  const baseDir = file ? dirname(file) : process.cwd();
  const problems: Problem[] = [];
  const error = (path: PathSegment[], code: DiagnosticCode, message: string, hint?: string) =>
    problems.push({ severity: "error", code, message, path, ...(hint ? { hint } : {}) });

  const name =
    recipe.name ??
    (file
      ? basename(file)
          .replace(/\.[cm]?[jt]s$/, "")
          .replace(/^recipe$/, basename(baseDir))
      : "recipe");
  const model = await resolveModel(recipe, baseDir, error, foreign);
  const { tokenizerDir, tokenizer } = await resolveTokenizer(recipe, baseDir, model, error);
  const tokenizerVocab = tokenizer?.vocabSize ?? null;
  const { added, probes } = addTokens(recipe, tokenizer);
  const declaredEos = tokenizer ? applyTokenRoles(recipe, tokenizer, added, problems, error) : null;
  const template = resolveTemplate(recipe, baseDir, tokenizer, tokenizerDir, error);
  const { endOfTurn, notInTemplate } =
    template && tokenizer
      ? checkTemplate(recipe, template, tokenizer, declaredEos, problems, error)
      : { endOfTurn: null, notInTemplate: [] };
  await checkDataFiles(recipe, baseDir, error, foreign);
  checkQuantization(recipe, model, error);
  if (model) checkMethodOnModel(recipe, model, problems);

  const outputDir = resolvePath(baseDir, recipe.output.dir ?? join("out", name));
  return {
    resolved: {
      recipe,
      file,
      baseDir,
      name,
      model,
      tokenizerDir,
      tokenizer,
      tokenizerVocab,
      added,
      template,
      endOfTurn,
      notInTemplate,
      probes,
      outputDir,
    },
    problems,
  };
}

/** The tokenizer: the recipe's folder, else the model's. */
async function resolveTokenizer(
  recipe: Recipe,
  baseDir: string,
  model: ResolvedModel | null,
  error: ErrorFn,
): Promise<{ tokenizerDir: string | null; tokenizer: Tokenizer | null }> {
  const tokenizerDir = recipe.tokenizer ? resolvePath(baseDir, recipe.tokenizer) : (model?.dir ?? null);
  let tokenizer: Tokenizer | null = null;
  const tokenizerPath: PathSegment[] = recipe.tokenizer
    ? ["tokenizer"]
    : recipe.model.path
      ? ["model", "path"]
      : ["model"];
  if (!tokenizerDir) {
    // A model that failed to resolve has been reported already; only an inline architecture lacks a folder.
    if (recipe.model.architecture)
      error(
        ["tokenizer"],
        "sft/no-tokenizer",
        "a model built from `architecture` needs a `tokenizer` folder",
        'set tokenizer: "path/to/folder with tokenizer.json"',
      );
  } else if (!existsSync(join(tokenizerDir, "tokenizer.json"))) {
    error(
      tokenizerPath,
      "sft/no-tokenizer",
      `no tokenizer.json in ${tokenizerDir}`,
      "point `tokenizer` at a folder with tokenizer.json",
    );
  } else {
    try {
      tokenizer = await loadTokenizer(tokenizerDir);
    } catch (e) {
      error(
        tokenizerPath,
        "sft/bad-tokenizer",
        `cannot load the tokenizer in ${tokenizerDir}: ${(e as Error).message}`,
      );
    }
  }
  return { tokenizerDir, tokenizer };
}

/** Added tokens (and the probes' tokens) get their ids before anything renders or tokenizes with them. */
function addTokens(
  recipe: Recipe,
  tokenizer: Tokenizer | null,
): { added: AddedToken[]; probes: ProbeFact[] | null } {
  const addedSpecs: Omit<AddedToken, "id" | "isNew">[] = recipe.tokens.add.map((t) =>
    typeof t === "string"
      ? { content: t, special: true, init: recipe.tokens.init, description: null }
      : {
          content: t.content,
          special: t.special,
          init: t.init ?? recipe.tokens.init,
          description: t.description ?? null,
        },
  );
  // Knowledge probes key their facts on fresh tokens of their own.
  const probes = recipe.probes ? probeFacts(recipe.probes) : null;
  for (const fact of probes ?? []) {
    if (!addedSpecs.some((t) => t.content === fact.token)) {
      addedSpecs.push({ content: fact.token, special: true, init: recipe.tokens.init, description: null });
    }
  }
  const existed = addedSpecs.map((t) => tokenizer?.tokenToId(t.content) !== undefined);
  const ids = tokenizer ? tokenizer.addTokens(addedSpecs) : addedSpecs.map(() => null);
  const added: AddedToken[] = addedSpecs.map((t, i) => ({ ...t, id: ids[i] ?? null, isNew: !existed[i] }));
  return { added, probes };
}

/**
 * bos/eos/pad overrides (the template context, the labels and generation all follow them), and a warning for each
 * added token already in the vocabulary. Returns the EOS the recipe declares, once it resolved to a token (an
 * unresolved one is reported already).
 */
function applyTokenRoles(
  recipe: Recipe,
  tokenizer: Tokenizer,
  added: AddedToken[],
  problems: Problem[],
  error: ErrorFn,
): string | null {
  let declaredEos: string | null = null;
  for (const role of ["bos", "eos", "pad"] as const) {
    const ref = recipe.tokens[role];
    if (ref === undefined) continue;
    let content: string | undefined;
    if (typeof ref === "string") content = ref;
    else if ("vocab" in ref) {
      content = ref.vocab;
      if (tokenizer.tokenToId(ref.vocab) === undefined) {
        error(
          ["tokens", role, "vocab"],
          "sft/unknown-token",
          `\`${ref.vocab}\` is not in the tokenizer's vocabulary`,
        );
        continue;
      }
    } else {
      content = tokenizer.idToToken(ref.id);
      if (content === undefined) {
        error(
          ["tokens", role, "id"],
          "sft/unknown-token",
          `token id ${ref.id} is past the vocabulary (${tokenizer.vocabSize} tokens)`,
        );
        continue;
      }
    }
    // A name missing from tokens.add was reported by the recipe checks already.
    if (tokenizer.tokenToId(content) !== undefined) {
      tokenizer.setSpecialToken(role, content);
      if (role === "eos") declaredEos = content;
    }
  }
  added.forEach((t, i) => {
    if (t.isNew) return;
    problems.push({
      severity: "warning",
      code: "sft/token-exists",
      message: `\`${t.content}\` is already in the vocabulary; it keeps its id and embedding`,
      path: ["tokens", "add", i],
    });
  });
  return declaredEos;
}

/** The template's end-of-turn token, whether the EOS policy can be met, and added tokens it never writes. */
function checkTemplate(
  recipe: Recipe,
  template: NonNullable<ResolvedRecipe["template"]>,
  tokenizer: Tokenizer,
  declaredEos: string | null,
  problems: Problem[],
  error: ErrorFn,
): { endOfTurn: string | null; notInTemplate: number[] } {
  let endOfTurn: string | null = null;
  const notInTemplate: number[] = [];
  try {
    const eot = endOfTurnTokens(template.text, tokenizer);
    endOfTurn = eot.token;
    const closesEvery = eot.markers.length > 0 && eot.markers.every((m) => m !== null);
    if (!closesEvery && recipe.train.eos !== "none") {
      // A misspelt variable renders nothing in Jinja: name it, as that is the likelier fault.
      const unknown = probeUndefined(template.text, tokenizer).map((n) => `\`${n}\``);
      const why = unknown.length
        ? ` (the template from ${template.origin} uses ${unknown.join(", ")}, undefined in a chat template's context: a misspelling?)`
        : "";
      error(
        ["train", "eos"],
        "sft/eos-impossible",
        `EOS policy \`${recipe.train.eos}\` cannot be met: the template puts no EOS or end-of-turn token after assistant turns${why}`,
        'choose a template that closes assistant turns (e.g. a built-in), or set train.eos: "none" and acknowledge sft/eos-not-trained',
      );
    } else if (recipe.train.eos !== "none" && usesChatTemplate(recipe)) {
      problems.push(
        ...endTokenProblems({
          recipe,
          tokenizer,
          template: template.text,
          templateName: template.source === "builtin" ? template.name : null,
          eot,
          declaredEos,
        }),
      );
    }
    if (usesChatTemplate(recipe)) {
      const rendered = renderProbeWithSystem(template.text, tokenizer);
      recipe.tokens.add.forEach((t, i) => {
        if (!rendered.includes(typeof t === "string" ? t : t.content)) notInTemplate.push(i);
      });
    }
  } catch (e) {
    const at = templatePath(recipe);
    if (e instanceof ChatTemplateError)
      error(
        at,
        "sft/template-error",
        `the chat template from ${template.origin} ${e.reason}`,
        templateFix(e),
      );
    else
      error(
        at,
        "sft/template-error",
        `the chat template from ${template.origin} fails to render: ${(e as Error).message}`,
      );
  }
  return { endOfTurn, notInTemplate };
}

/** Data files are checked here too, so a missing file is reported with every other problem. */
async function checkDataFiles(
  recipe: Recipe,
  baseDir: string,
  error: ErrorFn,
  foreign: readonly PathOrigin[],
): Promise<void> {
  for (const [name, source] of Object.entries(recipe.data.sources)) {
    const { missing } = await resolveFiles(baseDir, source.path);
    const paths = Array.isArray(source.path) ? source.path : [source.path];
    for (const m of missing) {
      const index = paths.indexOf(m.pattern);
      const at = [
        "data",
        "sources",
        name,
        "path",
        ...(Array.isArray(source.path) && index >= 0 ? [index] : []),
      ];
      error(at, "sft/data-not-found", m.message, relativeToHint(foreign, at, "data"));
    }
  }
}

function checkQuantization(recipe: Recipe, model: ResolvedModel | null, error: ErrorFn): void {
  if (methodDefinition(recipe.method).quantizedBase(recipe.method) !== null && model?.quantized) {
    error(
      ["method", "kind"],
      "sft/already-quantized",
      "qlora quantizes the base to NF4, but this checkpoint is already quantized",
      "use `lora` on this checkpoint, or start from its unquantized weights",
    );
  }
}

/** The method's settings against the model's configuration (layers it selects, ...). */
function checkMethodOnModel(recipe: Recipe, model: ResolvedModel, problems: Problem[]): void {
  problems.push(...(methodDefinition(recipe.method).checkModel?.(recipe.method, model.config) ?? []));
}

type ErrorFn = (path: PathSegment[], code: DiagnosticCode, message: string, hint?: string) => void;

async function resolveModel(
  recipe: Recipe,
  baseDir: string,
  error: ErrorFn,
  foreign: readonly PathOrigin[],
): Promise<ResolvedModel | null> {
  const m = recipe.model;
  if (m.architecture) {
    const a = m.architecture;
    const json = {
      model_type: a.type,
      vocab_size: a.vocabSize,
      hidden_size: a.hiddenSize,
      intermediate_size: a.intermediateSize,
      num_hidden_layers: a.numLayers,
      num_attention_heads: a.numHeads,
      num_key_value_heads: a.numKvHeads ?? a.numHeads,
      head_dim: a.headDim ?? a.hiddenSize / a.numHeads,
      max_position_embeddings: a.maxPositionEmbeddings,
      rope_theta: a.ropeTheta,
      rms_norm_eps: a.rmsNormEps,
      tie_word_embeddings: a.tieWordEmbeddings,
      // Absent: the family's default (Qwen2 always has q/k/v biases).
      attention_bias: a.attentionBias,
      mlp_bias: a.mlpBias,
      torch_dtype: "float32",
    };
    if (!Number.isInteger(json.head_dim)) {
      error(
        ["model", "architecture", "numHeads"],
        "sft/bad-architecture",
        `hiddenSize ${a.hiddenSize} is not divisible by numHeads ${a.numHeads}`,
        "set headDim explicitly",
      );
      return null;
    }
    if (json.num_attention_heads % json.num_key_value_heads !== 0) {
      error(
        ["model", "architecture", "numKvHeads"],
        "sft/bad-architecture",
        `numHeads ${a.numHeads} is not a multiple of numKvHeads ${json.num_key_value_heads}`,
      );
      return null;
    }
    try {
      const config = parseHfConfig(json, "model.architecture");
      return {
        source: { kind: "architecture", path: null, hub: null, revision: null },
        dir: null,
        config,
        quantized: false,
      };
    } catch (e) {
      error(["model", "architecture"], "sft/bad-architecture", (e as Error).message);
      return null;
    }
  }

  let dir: string;
  let source: ResolvedModel["source"];
  const at: PathSegment[] = m.path ? ["model", "path"] : ["model", "hub"];
  if (m.path) {
    dir = resolvePath(baseDir, m.path);
    source = { kind: "path", path: dir, hub: null, revision: null };
    if (!existsSync(dir)) {
      error(
        at,
        "sft/model-not-found",
        `model folder not found: ${dir}`,
        relativeToHint(foreign, at, "model"),
      );
      return null;
    }
  } else {
    const hub = m.hub!;
    const found = resolveHubModel(hub, m.revision ? { revision: m.revision } : {});
    if (!found) {
      error(
        at,
        "sft/model-not-found",
        `${hub}${m.revision ? `@${m.revision}` : ""} is not in the local Hugging Face cache`,
        "sftkit never downloads: fetch it once elsewhere (e.g. `huggingface-cli download`) into $HF_HOME, or use `path`",
      );
      return null;
    }
    dir = found.dir;
    source = { kind: "hub", path: dir, hub, revision: found.revision };
  }
  if (!existsSync(join(dir, "config.json"))) {
    error(
      at,
      "sft/model-not-found",
      `no config.json in ${dir}`,
      "a model folder holds config.json and *.safetensors",
    );
    return null;
  }
  let resolved: ResolvedModel;
  try {
    const config = await readHfConfig(dir);
    const raw = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    resolved = { source, dir, config, quantized: raw.quantization_config !== undefined };
  } catch (e) {
    error(at, "sft/bad-model-config", (e as Error).message);
    return null;
  }
  // Quantized checkpoints store other tensors (packed weights, scales) than the config's.
  if (!resolved.quantized) {
    for (const message of await checkWeightFiles(dir, resolved.config))
      error(
        at,
        "sft/bad-weights",
        message,
        "the weights do not match config.json: re-download or re-export the model (a truncated file was cut while copying)",
      );
  }
  return resolved;
}

/** The recipe key a template problem is located at. */
function templatePath(recipe: Recipe): PathSegment[] {
  const t = recipe.template;
  if (typeof t === "object" && "jinja" in t) return ["template", "jinja"];
  if (typeof t === "object" && "file" in t) return ["template", "file"];
  return ["template"];
}

function templateFix(e: ChatTemplateError): string | undefined {
  if (e.at) return `fix line ${e.at.line} of the template (lines count from the template's first line)`;
  if (e.raised)
    return "the template refused the probe conversation (user, assistant, with and without a system turn)";
  return undefined;
}

function resolveTemplate(
  recipe: Recipe,
  baseDir: string,
  tokenizer: Tokenizer | null,
  tokenizerDir: string | null,
  error: ErrorFn,
): ResolvedTemplate | null {
  const t = recipe.template;
  if (typeof t === "string" && t !== "model")
    return { source: "builtin", name: t, text: builtinTemplates[t], origin: `the built-in \`${t}\`` };
  if (typeof t === "object" && "jinja" in t)
    return { source: "inline", name: null, text: t.jinja, origin: "the recipe's `template.jinja`" };
  if (typeof t === "object" && "file" in t) {
    const path = resolvePath(baseDir, t.file);
    if (!existsSync(path)) {
      error(["template", "file"], "sft/template-not-found", `template file not found: ${path}`);
      return null;
    }
    if (statSync(path).isDirectory()) {
      error(["template", "file"], "sft/template-not-found", `${path} is a folder, not a template file`);
      return null;
    }
    const text = readFileSync(path, "utf8");
    if (text.trim() === "") {
      error(["template", "file"], "sft/template-error", `the template file ${path} is empty`);
      return null;
    }
    return { source: "file", name: basename(path), text, origin: path };
  }
  if (!tokenizer) return null;
  if (!tokenizer.chatTemplate) {
    if (usesChatTemplate(recipe)) {
      error(
        ["template"],
        "sft/no-chat-template",
        "the tokenizer has no chat_template, and chat-format data needs one",
        templateHint(tokenizer),
      );
    }
    return null;
  }
  const own = tokenizerDir && existsSync(join(tokenizerDir, "chat_template.jinja"));
  const origin = tokenizerDir
    ? join(tokenizerDir, own ? "chat_template.jinja" : "tokenizer_config.json")
    : "the tokenizer";
  return { source: "model", name: null, text: tokenizer.chatTemplate, origin };
}

/** Built-ins that end answers with one token of this tokenizer first: the others need their markers added. */
function templateHint(tokenizer: Tokenizer): string {
  const names = Object.keys(builtinTemplates) as (keyof typeof builtinTemplates)[];
  const fit = names.filter((n) => {
    try {
      return endOfTurnTokens(builtinTemplates[n], tokenizer).token !== null;
    } catch {
      return false;
    }
  });
  const rest = names.filter((n) => !fit.includes(n));
  const own = fit.length
    ? `choose a built-in that ends answers with one token of this tokenizer: ${fit.join(", ")}; `
    : "";
  return `${own}${rest.join(", ")} need an end token added and declared as tokens.eos (e.g. chatml: tokens: { add: ["<|im_start|>", "<|im_end|>"], eos: "<|im_end|>" }); or give { jinja } / { file }`;
}

/** Whether some source renders through the chat template (completion and tokenized data do not). */
function usesChatTemplate(recipe: Recipe): boolean {
  return Object.values(recipe.data.sources).some(
    (s) => s.format !== "completion" && s.format !== "tokenized",
  );
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
