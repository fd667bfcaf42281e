// The data stage as the compiler sees it: run the pipeline, turn its reports and problems into plan facts.
import { join, relative } from "node:path";
import { tokenizeCompletion, tokenizeConversation } from "../data/labels/index.ts";
import {
  type DataPipelineOptions,
  mixEpoch,
  type PreparedData,
  prepareData,
  type TemplateDrop,
} from "../data/pipeline.ts";
import { PROBES_SOURCE, type ProbeFact, probeConversation, probesSource } from "../data/probes.ts";
import { droppedFeatures } from "../data/template/feature-drops.ts";
import type { PathSegment, Problem } from "../recipe/diagnostics.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { type DataFacts, DEFAULT_TOKENS_PER_MICRO_BATCH } from "./plan.ts";
import { type ResolvedRecipe, sha256 } from "./resolve.ts";
import { scheduleFacts } from "./schedule-facts.ts";

export interface DataStage {
  facts: DataFacts;
  prepared: PreparedData | null;
}

export function emptyDataFacts(): DataFacts {
  return {
    sources: [],
    samplesPerEpoch: null,
    tokensPerEpoch: null,
    evalSamples: null,
    microBatchesPerEpoch: null,
    paddingFraction: null,
    longestRow: null,
    cacheDir: null,
    cacheHit: null,
    cacheKeys: {},
    cacheBytes: 0,
  };
}

export async function runDataStage(resolved: ResolvedRecipe, problems: Problem[]): Promise<DataStage> {
  const { recipe, tokenizer, template } = resolved;
  const facts = emptyDataFacts();
  const needsTemplate = Object.values(recipe.data.sources).some(
    (s) => s.format !== "completion" && s.format !== "tokenized",
  );
  if (!tokenizer || (needsTemplate && !template)) return { facts, prepared: null };

  const train = recipe.train;
  const added = recipe.tokens.add.map((t) => (typeof t === "string" ? t : t.content));
  const templateText = template?.text ?? "";
  const cacheDir = recipe.data.cacheDir
    ? join(resolved.baseDir, recipe.data.cacheDir)
    : join(resolved.baseDir, ".sft-cache");

  const options: Omit<DataPipelineOptions, "sources"> = {
    baseDir: resolved.baseDir,
    seed: recipe.data.seed,
    cacheDir,
    encode: (conv) =>
      tokenizeConversation(conv, { tokenizer, template: templateText, lossOn: train.lossOn, eos: train.eos }),
    encodeCompletion: (text) => tokenizeCompletion(text, tokenizer, { eos: train.eos }),
    cacheKeyExtra: sha256(
      JSON.stringify([
        resolved.tokenizerDir,
        tokenizer.vocabSize,
        [tokenizer.bosToken, tokenizer.eosToken, tokenizer.padToken],
        templateText,
        added,
        train.lossOn,
        train.eos,
      ]),
    ),
    maxLength: train.maxLength,
    overLength: train.overLength,
    // The embedding's rows once added tokens are in (as the plan's vocab.total counts them).
    vocabSize: Math.max(
      resolved.model?.config.vocabSize ?? 0,
      tokenizer.vocabSize,
      ...resolved.added.map((t) => (t.id ?? -1) + 1),
    ),
    droppedFeatures: template
      ? (conv) => droppedFeatures(template.text, tokenizer.templateContext(), conv)
      : undefined,
  };
  let prepared: PreparedData;
  try {
    prepared = await prepareData({ ...options, sources: recipe.data.sources });
    if (resolved.probes?.length) {
      prepared = mergePrepared(
        prepared,
        await prepareProbes(resolved.probes, recipe.probes!.rate, prepared, cacheDir, options),
      );
    }
  } catch (e) {
    problems.push({ severity: "error", code: "sft/data", message: (e as Error).message, path: ["data"] });
    return { facts, prepared: null };
  }

  for (const p of prepared.problems) {
    const where = [p.file, p.line ?? (p.index !== undefined ? `row ${p.index}` : undefined)]
      .filter(Boolean)
      .join(":");
    const path: PathSegment[] = ["data", "sources", p.source, "path"];
    problems.push({
      severity: "error",
      code: "sft/bad-data",
      message: `${where ? `${where}: ` : ""}${p.field ? `field "${p.field}": ` : ""}${p.message}`,
      path,
      hint:
        recipe.data.sources[p.source]?.onBadRow === "error"
          ? 'fix the row, or set onBadRow: "skip" to skip and count such rows'
          : undefined,
    } as Problem);
  }

  for (const r of prepared.reports) {
    const source = recipe.data.sources[r.name];
    if (r.rows === 0 && source && (source.weight !== undefined || source.samples !== undefined)) {
      problems.push({
        severity: "error",
        code: "sft/empty-source",
        message: `source \`${r.name}\` has no rows, so its ${source.weight !== undefined ? "weight" : "samples"} cannot be met`,
        path: ["data", "sources", r.name, source.weight !== undefined ? "weight" : "samples"],
        hint: "check the path and filters, or remove the source",
      });
    } else if (r.rows === 0 && source) {
      // An empty file (or filters that keep nothing) would leave the plan without data to size it by.
      problems.push({
        severity: "error",
        code: "sft/empty-source",
        message: `source \`${r.name}\` has no rows (${r.files.join(", ") || "no file"})`,
        path: ["data", "sources", r.name, "path"],
        hint: "check that the file has rows and the filters keep some, or remove the source",
      });
    }
    if (r.badRows > 0) {
      problems.push({
        severity: "warning",
        code: "sft/rows-skipped",
        message: `${r.badRows} row(s) of \`${r.name}\` did not fit the ${source?.format} format and were skipped`,
        path: ["data", "sources", r.name, "onBadRow"],
      });
    }
    if (r.emptyTurns) {
      const f = r.emptyTurns.first;
      const where = [relative(resolved.baseDir, f.file) || f.file, f.line ?? `row ${f.index}`].join(":");
      problems.push({
        severity: "warning",
        code: "sft/empty-turns",
        message: `${r.emptyTurns.rows} row(s) of \`${r.name}\` have an empty user or assistant turn and are dropped (first: ${where}, ${f.field})`,
        path: ["data", "sources", r.name, "filters", "dropEmpty"],
        hint: "fill or remove the empty turns; filters: { dropEmpty: false } keeps such rows (an empty answer trains an instant end of turn)",
      });
    }
    if (r.overLength.dropped > 0) {
      problems.push({
        severity: "warning",
        code: "sft/samples-dropped",
        message: `${r.overLength.dropped} sample(s) of \`${r.name}\` are longer than maxLength ${train.maxLength} (longest ${r.longestBeforeLimit}) and are dropped`,
        path: ["train", "maxLength"],
      });
    }
    // Truncation left these with no trained token: their prompts alone fill maxLength.
    const untrainable = r.filtered.emptyAfterTruncate ?? 0;
    if (untrainable > 0) {
      problems.push({
        severity: "error",
        code: "sft/prompt-exceeds-max-length",
        message: `${untrainable} sample(s) of \`${r.name}\` have no trained token within maxLength ${train.maxLength}: their prompts are longer`,
        path: ["train", "maxLength"],
        hint: `raise maxLength to at least ${r.longestBeforeLimit}, or set overLength: "drop"`,
      });
    }
  }

  problems.push(...templateDropProblems(resolved, prepared));
  problems.push(...unusedTokenWarnings(resolved, prepared));

  for (const message of prepared.warnings) {
    problems.push({
      severity: "warning",
      code: "sft/cache-unavailable",
      message,
      path: ["data", "cacheDir"],
    });
  }
  for (const r of prepared.reports) {
    if (r.rows > 0 && r.trainRows === 0) {
      problems.push({
        severity: "error",
        code: "sft/no-train-samples",
        message: `source \`${r.name}\` has ${r.rows} rows but none is left to train on (eval ${r.evalRows}, too long ${r.overLength.dropped}, filtered ${Object.values(r.filtered).reduce((a, b) => a + b, 0)})`,
        path: ["data", "sources", r.name],
        hint:
          r.overLength.dropped > 0
            ? `raise train.maxLength (the longest sample has ${r.longestBeforeLimit} tokens)`
            : "check the eval split and filters",
      });
    }
  }

  facts.sources = prepared.reports.map((r) => ({
    name: r.name,
    format: recipe.data.sources[r.name]?.format ?? (r.name === PROBES_SOURCE ? "messages" : "unknown"),
    files: r.files,
    rows: r.rows,
    badRows: r.badRows,
    filtered: r.filtered,
    trainRows: r.trainRows,
    evalRows: r.evalRows,
    tokens: r.tokens,
    trainedTokens: r.trainedTokens,
    longest: r.longest,
    overLength: r.overLength.dropped + r.overLength.truncated,
    weight: r.weight,
    samplesPerEpoch: r.samplesPerEpoch,
  }));
  facts.samplesPerEpoch = prepared.reports.reduce((a, r) => a + r.samplesPerEpoch, 0);
  facts.evalSamples = prepared.reports.reduce((a, r) => a + r.evalRows, 0);
  facts.cacheDir = cacheDir;
  facts.cacheHit = prepared.cacheHit;
  facts.cacheKeys = Object.fromEntries(prepared.reports.map((r) => [r.name, r.cacheKey]));
  facts.cacheBytes = prepared.reports.reduce((a, r) => a + r.cacheBytes, 0);
  facts.longestRow = Math.max(0, ...prepared.reports.map((r) => r.longest));

  // The first epoch's schedule gives the batching numbers (later epochs differ only in order); the
  // lengths stay for the planner, which schedules them again when a GPU plan sizes the micro-batch.
  const lengths = mixEpoch(prepared, 0, recipe.data.seed).map((s) => s.inputIds.length);
  if (lengths.length > 0) {
    const budget = Math.max(train.tokensPerMicroBatch ?? DEFAULT_TOKENS_PER_MICRO_BATCH, train.maxLength);
    Object.assign(facts, scheduleFacts(lengths, train, recipe.data.seed, budget));
    facts.lengths = lengths;
  }
  return { facts, prepared };
}

const featurePlural: Record<TemplateDrop["feature"], string> = {
  "tool calls": "tool calls",
  "tool definitions": "tool definitions",
  "system message": "system messages",
};

const featureHints: Record<TemplateDrop["feature"], string> = {
  "tool calls": "a template with tool calls (built-in chatml, qwen2.5 or llama-3, or the model's own)",
  "tool definitions":
    "a template that renders `tools` (built-in chatml, qwen2.5 or llama-3, or the model's own)",
  "system message": "a template with a system role",
};

/** A template that renders nothing of a feature the data has: an error unless the recipe acknowledges it. */
function templateDropProblems(resolved: ResolvedRecipe, prepared: PreparedData): Problem[] {
  const { recipe, template } = resolved;
  const code = "sft/template-drops-feature";
  const acknowledged = (recipe.acknowledge as string[]).includes(code);
  const label =
    template?.source === "model"
      ? "the model's chat template"
      : template?.name
        ? `chat template "${template.name}"`
        : "the inline chat template";
  return prepared.reports.flatMap((r) =>
    r.templateDrops.map((d): Problem => {
      const file = relative(resolved.baseDir, d.first.file) || d.first.file;
      const at = d.first.line !== undefined ? `${file}:${d.first.line}` : `${file} row ${d.first.index}`;
      return {
        severity: acknowledged ? "warning" : "error",
        code,
        message: `${at}: ${label} has no place for ${featurePlural[d.feature]}: this row renders the same without its ${d.feature}; ${d.rows} of ${r.rows} rows of source \`${r.name}\` lose theirs`,
        path: ["data", "sources", r.name],
        hint: `use ${featureHints[d.feature]}; or acknowledge ${code} to train without them (tool-call turns the template drops are then left out of the loss)`,
      };
    }),
  );
}

/** Added tokens that neither the template (probed with a system message) nor any sample writes. */
function unusedTokenWarnings(resolved: ResolvedRecipe, prepared: PreparedData): Problem[] {
  const ids = new Map<number, number>();
  for (const i of resolved.notInTemplate) {
    const id = resolved.added[i]?.id;
    if (id !== null && id !== undefined) ids.set(id, i);
  }
  if (ids.size === 0) return [];
  for (const samples of [...Object.values(prepared.train), ...Object.values(prepared.eval)])
    for (const s of samples) for (const id of s.inputIds) ids.delete(id);
  return [...ids.values()].map((i) => {
    const content = resolved.added[i]!.content;
    return {
      severity: "warning",
      code: "sft/token-not-in-template",
      message: `\`${content}\` is added but never used: the template does not write it and no sample contains it, so it never trains`,
      path: ["tokens", "add", i],
      hint: "remove it, or choose a template that writes it (e.g. a built-in whose markers are the added tokens)",
    } satisfies Problem;
  });
}

/**
 * The probes as one more source: their conversations are written to the cache folder (content-addressed),
 * then drawn so that they make up `rate` of each epoch's samples.
 */
async function prepareProbes(
  probes: ProbeFact[],
  rate: number,
  main: PreparedData,
  cacheDir: string,
  options: Omit<DataPipelineOptions, "sources">,
): Promise<PreparedData> {
  const text = `${probes.map((f) => JSON.stringify(probeConversation(f))).join("\n")}\n`;
  const file = join(cacheDir, `probes-${sha256(text).slice(0, 16)}.jsonl`);
  await writeFileAtomic(file, text);
  const others = main.reports.reduce((a, r) => a + r.samplesPerEpoch, 0);
  const samples = Math.max(probes.length, Math.round((rate / (1 - rate)) * others));
  return prepareData({
    ...options,
    sources: {
      [PROBES_SOURCE]: probesSource(file, samples),
    },
  });
}

function mergePrepared(a: PreparedData, b: PreparedData): PreparedData {
  return {
    reports: [...a.reports, ...b.reports],
    train: { ...a.train, ...b.train },
    eval: { ...a.eval, ...b.eval },
    problems: [...a.problems, ...b.problems],
    cacheHit: a.cacheHit && b.cacheHit,
    warnings: [...a.warnings, ...b.warnings],
  };
}
