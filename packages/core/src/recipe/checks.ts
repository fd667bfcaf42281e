// Cross-field rules that need only the parsed recipe (no files): token references, method/train coherence.
import { methodDefinition } from "../methods/registry.ts";
import type { DiagnosticCode, Problem } from "./diagnostics.ts";
import type { Recipe } from "./schema/recipe.ts";
import { closest } from "./suggest.ts";
import { type WarningId, warningIds } from "./warnings.ts";

export function addedTokenTexts(recipe: Recipe): string[] {
  return recipe.tokens.add.map((t) => (typeof t === "string" ? t : t.content));
}

/** The recipe's learning rate, or the method's default. */
export function learningRateOf(recipe: Recipe): number {
  return recipe.train.learningRate ?? methodDefinition(recipe.method).defaultLearningRate;
}

export function checkRecipe(recipe: Recipe): Problem[] {
  const problems: Problem[] = [];
  const report: Report = {
    error: (path, code, message, hint) =>
      problems.push({ severity: "error", code, message, path, ...(hint ? { hint } : {}) }),
    warn: (path, id, detail, hint) =>
      problems.push({
        severity: "warning",
        code: id,
        message: detail ?? warningIds[id],
        path,
        ...(hint ? { hint } : {}),
      }),
  };
  const added = addedTokenTexts(recipe);
  for (const check of [
    checkAddedTokens,
    checkTokenReferences,
    checkMethod,
    checkTrainingData,
    checkProbes,
    checkOptimizerAndBackend,
  ])
    check(recipe, added, report);
  return problems;
}

interface Report {
  error(path: Problem["path"], code: DiagnosticCode, message: string, hint?: string): void;
  /** A warning; its message is the catalogue's summary unless `detail` is given. */
  warn(path: Problem["path"], id: WarningId, detail?: string, hint?: string): void;
}

/** Added tokens: no duplicates; `describe` init needs a description. */
function checkAddedTokens(recipe: Recipe, _added: string[], { error }: Report): void {
  const seen = new Map<string, number>();
  recipe.tokens.add.forEach((t, i) => {
    const text = typeof t === "string" ? t : t.content;
    const first = seen.get(text);
    if (first !== undefined)
      error(
        ["tokens", "add", i],
        "sft/duplicate-token",
        `\`${text}\` is already added at tokens.add[${first}]`,
      );
    else seen.set(text, i);
    const init = typeof t === "string" ? recipe.tokens.init : (t.init ?? recipe.tokens.init);
    const description = typeof t === "string" ? undefined : t.description;
    if (init === "describe" && !description) {
      error(
        typeof t === "string" || t.init === undefined ? ["tokens", "add", i] : ["tokens", "add", i, "init"],
        "sft/missing-description",
        `init \`describe\` needs a description for \`${text}\``,
        `write { content: ${JSON.stringify(text)}, description: "what this token means" }`,
      );
    }
  });
}

/** Token references by name must name an added token; the pad token must not be the EOS. */
function checkTokenReferences(recipe: Recipe, added: string[], { error }: Report): void {
  for (const role of ["bos", "eos", "pad"] as const) {
    const ref = recipe.tokens[role];
    if (typeof ref === "string" && !added.includes(ref)) {
      const guess = closest(ref, added);
      error(
        ["tokens", role],
        "sft/unknown-token",
        `\`${ref}\` is not a token this recipe adds`,
        guess
          ? `did you mean \`${guess}\`?`
          : `add it to tokens.add, or name an existing token as { vocab: ${JSON.stringify(ref)} }`,
      );
    }
  }
  if (
    recipe.tokens.pad !== undefined &&
    recipe.tokens.eos !== undefined &&
    sameRef(recipe.tokens.pad, recipe.tokens.eos)
  ) {
    if (recipe.train.eos !== "none") {
      error(
        ["tokens", "pad"],
        "sft/pad-is-eos",
        "the pad token is the EOS token, so masking padding would also mask the EOS the model must learn",
        "use a separate pad token (e.g. add one), as the EOS must stay trainable",
      );
    }
  }
}

/** What the method trains: a frozen method something, and the rows of added tokens. */
function checkMethod(recipe: Recipe, added: string[], { error, warn }: Report): void {
  const method = recipe.method;
  const def = methodDefinition(method);
  for (const p of def.check?.(method, added) ?? []) {
    if (p.severity === "error") error(p.path, p.code, p.message, p.hint);
    else warn(p.path, p.code, p.message, p.hint);
  }
  if (added.length > 0) {
    if (!def.addedRowsLearn(method)) {
      warn(
        ["method", "kind"],
        "sft/new-tokens-untrained",
        `${added.length} added token(s) keep their initial embedding: method \`${method.kind}\` does not train their rows`,
        def.addedRowsHint ?? "set method.trainNewTokens: true",
      );
    }
  }
}

/** The stop token, truncation, an eval split and upsampling. */
function checkTrainingData(recipe: Recipe, _added: string[], { warn }: Report): void {
  if (recipe.train.eos === "none") {
    warn(
      ["train", "eos"],
      "sft/eos-not-trained",
      undefined,
      'use eos: "turn" (default) so the model learns to end its answers',
    );
  }
  if (recipe.train.overLength === "truncate") {
    warn(
      ["train", "overLength"],
      "sft/truncation-cuts-eos",
      undefined,
      "use `drop` to keep only whole samples",
    );
  }
  if (!Object.values(recipe.data.sources).some((s) => s.eval !== undefined)) {
    warn(
      ["data", "sources"],
      "sft/no-eval-split",
      undefined,
      "set `eval: 0.05` (a fraction) or a row count on a source",
    );
  }
  for (const [name, source] of Object.entries(recipe.data.sources)) {
    if (source.weight !== undefined && source.weight > 3) {
      warn(
        ["data", "sources", name, "weight"],
        "sft/heavy-upsampling",
        `source \`${name}\` is repeated ${source.weight}× per epoch; the model may memorise it`,
      );
    }
  }
}

/** Knowledge probes: their source name and tokens of their own. */
function checkProbes(recipe: Recipe, added: string[], { error, warn }: Report): void {
  if (recipe.probes) {
    if (recipe.data.sources.probes) {
      error(
        ["data", "sources", "probes"],
        "sft/probes-name",
        "the source name `probes` is taken by the knowledge probes",
        "rename this source",
      );
    }
    (recipe.probes.facts ?? []).forEach((f, i) => {
      if (added.includes(f.token)) {
        error(
          ["probes", "facts", i, "token"],
          "sft/duplicate-token",
          `\`${f.token}\` is also in tokens.add; a probe needs a token of its own`,
        );
      }
    });
    const untrained = methodDefinition(recipe.method).probesUntrained;
    if (untrained) warn(["probes"], "sft/new-tokens-untrained", untrained);
  }
}

/** The learning rate for the method, and the backend named. */
function checkOptimizerAndBackend(recipe: Recipe, _added: string[], { warn }: Report): void {
  const method = recipe.method;
  const lr = learningRateOf(recipe);
  const fullLike = methodDefinition(method).learningRates === "full";
  if ((fullLike && lr > 1e-4) || lr > 1e-2) {
    warn(
      ["train", "learningRate"],
      "sft/high-learning-rate",
      `learning rate ${lr} is high for method \`${method.kind}\``,
      fullLike ? "full and partial SFT usually use 1e-5 to 5e-5" : "adapters usually use 1e-4 to 1e-3",
    );
  }
  const backend = recipe.train.backend;
  if (backend !== undefined)
    warn(
      ["train", "backend"],
      "sft/backend-deprecated",
      undefined,
      `write \`engine: "tfjs/${backend}"\` instead (it keeps working until it is removed)`,
    );
  if (backend === "cpu" || recipe.train.engine === "tfjs/cpu") {
    warn(
      backend === "cpu" ? ["train", "backend"] : ["train", "engine"],
      "sft/slow-backend",
      "backend `cpu` is a pure-JS debugging fallback, hundreds of times slower",
      'use `engine: "auto"` or `"tfjs/wasm"`',
    );
  }
}

function sameRef(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
