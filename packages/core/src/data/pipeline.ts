// The data pipeline's one entry: files -> rows -> conversations -> filters -> tokens (cached) -> split -> mix.
import { relative } from "node:path";
import { describeFsError } from "../util/fs-errors.ts";
import { entryDataBytes } from "./cache/codec.ts";
import { cacheKey } from "./cache/key.ts";
import { readEntry, writeEntry } from "./cache/store.ts";
import {
  applyFilters,
  type Converted,
  conversationOf,
  convertRow,
  emptyTurn,
  rowKeys,
  type SourceOutput,
} from "./formats/index.ts";
import { mixSamples, samplesPerEpoch } from "./mix/mix.ts";
import { splitIndices } from "./mix/split.ts";
import { type DataProblem, ReadError, readRows, resolveFiles } from "./readers/index.ts";
import type { TemplateFeature } from "./template/feature-drops.ts";
import { type Conversation, IGNORE_INDEX, type RawRow, type TokenizedSample } from "./types.ts";

export type { SourceOutput } from "./formats/index.ts";

export type Encoded = { inputIds: number[]; labels: number[] };

export interface DataPipelineOptions {
  /** Recipe folder; source paths are relative to it. */
  baseDir: string;
  sources: Record<string, SourceOutput>;
  seed: number;
  /** null disables the cache. */
  cacheDir: string | null;
  encode: (conv: Conversation) => Encoded;
  encodeCompletion: (text: string) => Encoded;
  /** Tokenizer/template/added tokens/masking fingerprint, supplied by the caller; part of the cache key. */
  cacheKeyExtra: string;
  maxLength: number;
  overLength: "truncate" | "drop" | "error";
  /** Embedding rows of the model: a pre-tokenized id at or past it is a bad row (it would fail in training). */
  vocabSize?: number;
  /** Features of a chat row that the template renders nothing of (tool calls, tools, system); counted per source. */
  droppedFeatures?: (conv: Conversation) => readonly TemplateFeature[];
}

/** Rows of a source whose `feature` the chat template drops, and where the first of them is. */
export interface TemplateDrop {
  feature: TemplateFeature;
  rows: number;
  first: TokenizedSample["origin"];
}

export interface SourceReport {
  name: string;
  /** Files read, relative to baseDir. */
  files: string[];
  /** Rows read (before filters; bad rows included). */
  rows: number;
  badRows: number;
  /** Rows dropped per filter (where, dropEmpty, minChars/maxChars, minLength/maxLength, dropTruncated,
   * dropRefusals, language, dedupe), and emptyAfterTruncate. */
  filtered: Record<string, number>;
  trainRows: number;
  evalRows: number;
  /** Tokens of the train rows (one pass over them), and of those the ones in the loss. */
  tokens: number;
  trainedTokens: number;
  evalTokens: number;
  /** Longest sample after the over-length policy, and before it. */
  longest: number;
  longestBeforeLimit: number;
  overLength: { dropped: number; truncated: number; errors: number };
  /** Effective weight: samplesPerEpoch / trainRows. */
  weight: number;
  samplesPerEpoch: number;
  cached: boolean;
  /** The content key of the source's cache entry (null when it is not in the cache); a plan names it. */
  cacheKey: string | null;
  /** About the bytes of that entry (0 when it is not in the cache): see cache/codec's entryDataBytes. */
  cacheBytes: number;
  templateDrops: TemplateDrop[];
  /** Rows dropped by `dropEmpty` for an empty user or assistant turn, and where the first is. */
  emptyTurns?: EmptyTurns | null;
}

export interface EmptyTurns {
  rows: number;
  first: DataProblem;
}

export interface PreparedData {
  reports: SourceReport[];
  train: Record<string, TokenizedSample[]>;
  eval: Record<string, TokenizedSample[]>;
  /** Bad rows under `onBadRow: "error"`, missing files, empty globs, unreadable files, over-length errors. */
  problems: DataProblem[];
  /** True when every source came from the cache. */
  cacheHit: boolean;
  /** Not errors: a cache that could not be read or written. */
  warnings: string[];
}

/** What the tokenizing stage produced for a source: the part that is cached. */
interface StageMeta {
  rows: number;
  badRows: number;
  filtered: Record<string, number>;
  overLength: SourceReport["overLength"];
  longestBeforeLimit: number;
  problems: DataProblem[];
  templateDrops: TemplateDrop[];
  emptyTurns?: EmptyTurns | null;
}

/** Problems kept per source and kind; the rest are summarised in one line. */
const MAX_PROBLEMS = 50;

export async function prepareData(opts: DataPipelineOptions): Promise<PreparedData> {
  const out: PreparedData = { reports: [], train: {}, eval: {}, problems: [], cacheHit: true, warnings: [] };
  for (const [name, source] of Object.entries(opts.sources)) {
    const resolved = await resolveFiles(opts.baseDir, source.path);
    for (const m of resolved.missing)
      out.problems.push({ source: name, file: m.pattern, message: m.message });
    let stage: { meta: StageMeta; samples: TokenizedSample[] } | null = null;
    let key: string | undefined;
    if (opts.cacheDir && resolved.files.length > 0) {
      try {
        key = await cacheKey({
          files: resolved.files,
          settings: cacheSettings(source, opts),
          extra: opts.cacheKeyExtra,
        });
        stage = await readEntry<StageMeta>(opts.cacheDir, key);
      } catch (e) {
        // An unreadable input file is reported by the reader below; the cache is just skipped.
        key = undefined;
        out.warnings.push(`source "${name}": cache skipped: ${(e as Error).message}`);
      }
    }
    const cached = stage !== null;
    let stored = cached;
    if (!stage) {
      stage = await tokenizeSource(name, source, resolved.files, opts);
      if (opts.cacheDir && key) {
        try {
          await writeEntry(opts.cacheDir, key, stage.meta, stage.samples, name);
          stored = true;
        } catch (e) {
          out.warnings.push(
            `source "${name}": cache not written to ${opts.cacheDir}: ${describeFsError(e) ?? (e as Error).message}`,
          );
        }
      }
    }
    out.cacheHit &&= cached;
    out.problems.push(...stage.meta.problems);
    const split = splitIndices(stage.samples.length, source.eval, opts.seed, name);
    if (split.problem)
      out.problems.push({
        source: name,
        file: relList(opts.baseDir, resolved.files),
        message: split.problem,
      });
    const train = split.train.map((i) => stage.samples[i]!);
    const evalSamples = split.eval.map((i) => stage.samples[i]!);
    out.train[name] = train;
    out.eval[name] = evalSamples;
    const perEpoch = samplesPerEpoch({
      name,
      size: train.length,
      weight: source.weight,
      samples: source.samples,
    });
    let tokens = 0;
    let trainedTokens = 0;
    let longest = 0;
    for (const s of train) {
      tokens += s.inputIds.length;
      for (const l of s.labels) if (l !== IGNORE_INDEX) trainedTokens++;
    }
    for (const s of stage.samples) longest = Math.max(longest, s.inputIds.length);
    out.reports.push({
      name,
      files: resolved.files.map((f) => relative(opts.baseDir, f) || f),
      rows: stage.meta.rows,
      badRows: stage.meta.badRows,
      filtered: stage.meta.filtered,
      trainRows: train.length,
      evalRows: evalSamples.length,
      tokens,
      trainedTokens,
      evalTokens: evalSamples.reduce((a, s) => a + s.inputIds.length, 0),
      longest,
      longestBeforeLimit: stage.meta.longestBeforeLimit,
      overLength: stage.meta.overLength,
      weight: train.length > 0 ? perEpoch / train.length : 0,
      samplesPerEpoch: perEpoch,
      cached,
      cacheKey: stored && key ? key : null,
      cacheBytes: stored && key ? entryDataBytes(stage.samples) : 0,
      templateDrops: stage.meta.templateDrops,
      emptyTurns: stage.meta.emptyTurns ?? null,
    });
  }
  return out;
}

/** What an epoch's mix and the eval split read of prepared data (a plan's cache entries give the same). */
export interface SplitData {
  reports: readonly Pick<SourceReport, "name" | "trainRows" | "samplesPerEpoch">[];
  train: Record<string, TokenizedSample[]>;
  eval: Record<string, TokenizedSample[]>;
}

/** The realised mix of one epoch: each source's draw (repeated or subsampled), shuffled together. */
export function mixEpoch(prepared: SplitData, epoch: number, seed: number): TokenizedSample[] {
  return mixSamples(
    prepared.reports.map((r) => ({
      source: { name: r.name, size: r.trainRows, samples: r.samplesPerEpoch },
      samples: prepared.train[r.name] ?? [],
    })),
    epoch,
    seed,
  );
}

function relList(baseDir: string, files: string[]): string {
  return files.length === 1 ? relative(baseDir, files[0]!) : `${files.length} files`;
}

/** Settings that change the tokenized rows (weight, samples, eval and seed act after the cache). */
function cacheSettings(source: SourceOutput, opts: DataPipelineOptions): unknown {
  const { weight: _w, samples: _s, eval: _e, path: _p, ...rest } = source;
  return { ...rest, maxLength: opts.maxLength, overLength: opts.overLength, vocabSize: opts.vocabSize };
}

async function tokenizeSource(
  name: string,
  source: SourceOutput,
  files: string[],
  opts: DataPipelineOptions,
): Promise<{ meta: StageMeta; samples: TokenizedSample[] }> {
  const meta: StageMeta = {
    rows: 0,
    badRows: 0,
    filtered: {},
    overLength: { dropped: 0, truncated: 0, errors: 0 },
    longestBeforeLimit: 0,
    problems: [],
    templateDrops: [],
    emptyTurns: null,
  };
  const drops = new Map<TemplateFeature, TemplateDrop>();
  const samples: TokenizedSample[] = [];
  const filters = applyFilters(source.filters);
  const keys = rowKeys(source);
  let badKept = 0;
  let overKept = 0;
  const bad = (p: Omit<DataProblem, "source">): void => {
    meta.badRows++;
    if (source.onBadRow === "skip") return;
    if (badKept++ < MAX_PROBLEMS) meta.problems.push({ source: name, ...p });
  };
  let emptyAfterTruncate = 0;
  for (const file of files) {
    const limit = (source.maxRows ?? Number.POSITIVE_INFINITY) - meta.rows;
    if (limit <= 0) break;
    try {
      for await (const item of readRows(file, source.fileType, { limit, rowKeys: keys })) {
        meta.rows++;
        let row: RawRow;
        switch (item.kind) {
          case "bad":
            bad({
              file,
              ...lineOrIndex(item),
              ...(item.field ? { field: item.field } : {}),
              message: item.message,
            });
            continue;
          case "row":
            row = item.row;
            break;
        }
        const where = { file, ...lineOrIndex(row) };
        const conv = convertRow(row.value, source);
        if (!conv.ok) {
          bad({ ...where, ...(conv.field ? { field: conv.field } : {}), message: conv.message });
          continue;
        }
        let dropped: string | null;
        try {
          dropped = filters.check(row.value, conv.value);
        } catch (e) {
          bad({ ...where, message: `filters.where threw: ${(e as Error).message}` });
          continue;
        }
        if (dropped !== null) {
          const turn = dropped === "dropEmpty" ? emptyTurn(conv.value) : null;
          if (turn) {
            meta.emptyTurns ??= { rows: 0, first: { source: name, ...where, field: turn, message: "empty" } };
            meta.emptyTurns.rows++;
          }
          continue;
        }
        const outside = outsideVocabulary(conv.value, opts.vocabSize, source.columns?.inputIds);
        if (outside) {
          bad({ ...where, ...outside });
          continue;
        }
        const conversation = conversationOf(conv.value);
        if (conversation && opts.droppedFeatures) {
          for (const feature of opts.droppedFeatures(conversation)) {
            const seen = drops.get(feature);
            if (seen) seen.rows++;
            else drops.set(feature, { feature, rows: 1, first: origin(row) });
          }
        }
        let enc: Encoded;
        try {
          enc = encodeConverted(conv.value, opts);
        } catch (e) {
          bad({ ...where, message: `cannot tokenize: ${(e as Error).message}` });
          continue;
        }
        const len = enc.inputIds.length;
        meta.longestBeforeLimit = Math.max(meta.longestBeforeLimit, len);
        if (len > opts.maxLength) {
          if (opts.overLength === "drop") {
            meta.overLength.dropped++;
            continue;
          }
          if (opts.overLength === "error") {
            meta.overLength.errors++;
            if (overKept++ < MAX_PROBLEMS) {
              meta.problems.push({
                source: name,
                ...where,
                message: `${len} tokens, over maxLength ${opts.maxLength} (set overLength to "truncate" or "drop")`,
              });
            }
            continue;
          }
          meta.overLength.truncated++;
          enc = {
            inputIds: enc.inputIds.slice(0, opts.maxLength),
            labels: enc.labels.slice(0, opts.maxLength),
          };
          if (!enc.labels.some((l) => l !== IGNORE_INDEX)) {
            emptyAfterTruncate++;
            continue;
          }
        }
        samples.push({ inputIds: enc.inputIds, labels: enc.labels, source: name, origin: origin(row) });
      }
    } catch (e) {
      const err = e instanceof ReadError ? e : new ReadError((e as Error).message, file);
      meta.problems.push({
        source: name,
        file: err.file,
        ...(err.line ? { line: err.line } : {}),
        message: err.message,
      });
    }
  }
  if (badKept > MAX_PROBLEMS) {
    meta.problems.push({
      source: name,
      file: files[0] ?? "",
      message: `... and ${badKept - MAX_PROBLEMS} more bad rows`,
    });
  }
  if (overKept > MAX_PROBLEMS) {
    meta.problems.push({
      source: name,
      file: files[0] ?? "",
      message: `... and ${overKept - MAX_PROBLEMS} more over-length rows`,
    });
  }
  meta.templateDrops = [...drops.values()];
  meta.filtered = { ...filters.counts } as Record<string, number>;
  if (emptyAfterTruncate > 0) meta.filtered.emptyAfterTruncate = emptyAfterTruncate;
  return { meta, samples };
}

function lineOrIndex(r: {
  line?: number;
  index: number;
}): { line: number } | { index: number; line?: never } {
  return r.line !== undefined ? { line: r.line } : { index: r.index };
}

function origin(r: RawRow): TokenizedSample["origin"] {
  return r.line !== undefined
    ? { file: r.file, line: r.line, index: r.index }
    : { file: r.file, index: r.index };
}

/** The first pre-tokenized id the model has no embedding row for. */
function outsideVocabulary(
  c: Converted,
  vocabSize: number | undefined,
  column = "input_ids",
): { field: string; message: string } | null {
  if (c.kind !== "ids" || vocabSize === undefined) return null;
  const message = (id: number) => `token id ${id} is outside the vocabulary (ids 0-${vocabSize - 1})`;
  const i = c.inputIds.findIndex((id) => id >= vocabSize);
  if (i >= 0) return { field: `${column}[${i}]`, message: message(c.inputIds[i]!) };
  // Labels are the ids the loss predicts: one past the head fails the same way.
  const j = c.labels.findIndex((id) => id >= vocabSize);
  if (j >= 0) return { field: `labels[${j}]`, message: message(c.labels[j]!) };
  return null;
}

function encoderFor(c: Converted, opts: DataPipelineOptions): Encoded {
  switch (c.kind) {
    case "chat":
      return opts.encode(c.conversation);
    case "text":
      return opts.encodeCompletion(c.text);
    case "ids":
      return c;
  }
}

function encodeConverted(c: Converted, opts: DataPipelineOptions): Encoded {
  const enc = encoderFor(c, opts);
  if (enc.inputIds.length !== enc.labels.length) {
    throw new Error(`encoder returned ${enc.inputIds.length} ids but ${enc.labels.length} labels`);
  }
  return { inputIds: enc.inputIds, labels: enc.labels };
}
