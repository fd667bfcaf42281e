// The data-quality report: every detector over each source (rows before filters) and over the realised mix.
import type { FiltersOutput } from "../formats/filters.ts";
import type { SourceOutput } from "../formats/types.ts";
import { mixEpoch, type PreparedData } from "../pipeline.ts";
import { balance } from "./balance.ts";
import { type CollectedSource, collectSources } from "./collect.ts";
import { completenessFindings } from "./completeness.ts";
import { concision } from "./concision.ts";
import { consistencyFindings } from "./consistency.ts";
import { diversity } from "./diversity.ts";
import { duplicateFindings } from "./duplicates.ts";
import { DEFAULT_NEAR_THRESHOLD } from "./minhash.ts";
import { FindingBuilder } from "./refs.ts";
import type { Finding, MixQuality, QualityReport, QualityRow, SourceQuality } from "./types.ts";

export interface QualityOptions {
  /** Shown in the report's title. */
  recipe: string;
  /** Recipe folder: source paths resolve against it, and rows are shown relative to it. */
  baseDir: string;
  sources: Record<string, SourceOutput>;
  seed: number;
  /** The pipeline's output: enables the realised mix, train/eval leakage and cut-by-maxLength. */
  prepared?: PreparedData | null;
  maxLength?: number;
  /** Jaccard threshold of near-duplicates (default 0.8). */
  nearThreshold?: number;
}

const SEVERITY = { error: 0, warning: 1, info: 2 } as const;

export async function buildQualityReport(opts: QualityOptions): Promise<QualityReport> {
  const collected = await collectSources(opts.baseDir, opts.sources);
  // Plain data; a notebook wraps it with displayQualityReport (public API) to display it richly.
  return analyse(collected, opts);
}

/** The analysis over rows already collected (tests and benches call it directly). */
export function analyse(collected: CollectedSource[], opts: QualityOptions): QualityReport {
  const threshold = opts.nearThreshold ?? DEFAULT_NEAR_THRESHOLD;
  const { baseDir } = opts;
  const all: QualityRow[] = collected.flatMap((c) => c.rows);
  const filters = new Map(
    collected.map((c) => [c.name, (opts.sources[c.name]?.filters ?? {}) as Partial<FiltersOutput>]),
  );
  const split = opts.prepared ? splitIds(opts.prepared, all) : undefined;
  const dups = duplicateFindings({ rows: all, filters, threshold, baseDir, ...(split ? { split } : {}) });
  const sources: SourceQuality[] = collected.map((c) => {
    const f = filters.get(c.name) ?? {};
    const div = diversity(c.name, c.rows, baseDir, opts.seed);
    const con = concision(c.name, c.rows, f, baseDir);
    const bal = balance(c.name, c.rows, baseDir);
    const findings = [
      ...(dups.bySource.get(c.name) ?? []),
      ...completenessFindings(c.name, c.rows, f, baseDir),
      ...(split ? cutByMaxLength(c.name, c.rows, split.cut, opts, baseDir) : []),
      ...con.findings,
      ...consistencyFindings(c.name, c.rows, baseDir),
      ...div.findings,
      ...bal.findings,
    ];
    return {
      name: c.name,
      rows: c.read,
      analysed: c.rows.length,
      skipped: c.skipped,
      errors: c.errors,
      filters: filtersShown(f),
      diversity: div.stats,
      concision: con.stats,
      balance: bal.stats,
      findings: sortFindings(findings),
    };
  });
  // Across sources: duplicates, leakage, conflicting answers.
  const cross = [...dups.mix, ...consistencyFindings(null, all, baseDir)];
  const mix = opts.prepared && split ? mixQuality(opts, all, split, cross) : null;
  const findings = sortFindings([...sources.flatMap((s) => s.findings), ...(mix?.findings ?? cross)]);
  return {
    version: 1,
    recipe: opts.recipe,
    nearThreshold: threshold,
    sources,
    mix,
    findings,
  };
}

interface Split {
  train: Set<number>;
  eval: Set<number>;
  /** Row ids whose tokenized sample was cut at maxLength. */
  cut: Set<number>;
  byKey: Map<string, number>;
}

const keyOf = (file: string, index: number) => `${file}\u0000${index}`;

function splitIds(prepared: PreparedData, rows: readonly QualityRow[]): Split {
  const byKey = new Map(rows.map((r) => [keyOf(r.file, r.index), r.id]));
  const out: Split = { train: new Set(), eval: new Set(), cut: new Set(), byKey };
  const truncating = new Set(prepared.reports.filter((r) => r.overLength.truncated > 0).map((r) => r.name));
  for (const [set, groups] of [
    [out.train, prepared.train],
    [out.eval, prepared.eval],
  ] as const) {
    for (const [name, samples] of Object.entries(groups)) {
      const longest = prepared.reports.find((r) => r.name === name)?.longest ?? 0;
      for (const s of samples) {
        const id = byKey.get(keyOf(s.origin.file, s.origin.index));
        if (id === undefined) continue;
        set.add(id);
        // Samples at the limit in a source that truncated: the ones truncation produced.
        if (truncating.has(name) && s.inputIds.length === longest) out.cut.add(id);
      }
    }
  }
  return out;
}

function cutByMaxLength(
  source: string,
  rows: readonly QualityRow[],
  cut: ReadonlySet<number>,
  opts: QualityOptions,
  baseDir: string,
): Finding[] {
  const b = new FindingBuilder(baseDir, {
    id: "completeness/cut",
    category: "completeness",
    title: `Answer cut at train.maxLength${opts.maxLength ? ` (${opts.maxLength} tokens)` : ""}`,
    severity: "warning",
    source,
    filter: {
      name: "overLength",
      active: false,
      setting:
        'train: { overLength: "drop" }, a larger train.maxLength, or filters: { maxLength } on the answer',
    },
  });
  for (const r of rows) if (cut.has(r.id)) b.add(r);
  const f = b.build(rows.length);
  return f ? [f] : [];
}

function mixQuality(
  opts: QualityOptions,
  all: QualityRow[],
  split: Split,
  crossFindings: Finding[],
): MixQuality {
  const prepared = opts.prepared!;
  const epoch = mixEpoch(prepared, 0, opts.seed);
  const weights = new Map<number, number>();
  const realised = new Map<string, number>();
  for (const s of epoch) {
    realised.set(s.source, (realised.get(s.source) ?? 0) + 1);
    const id = split.byKey.get(keyOf(s.origin.file, s.origin.index));
    if (id !== undefined) weights.set(id, (weights.get(id) ?? 0) + 1);
  }
  const planned = prepared.reports.reduce((a, r) => a + r.samplesPerEpoch, 0) || 1;
  const sources = prepared.reports.map((r) => ({
    name: r.name,
    trainRows: r.trainRows,
    evalRows: r.evalRows,
    weight: r.weight,
    target: r.samplesPerEpoch / planned,
    realised: (realised.get(r.name) ?? 0) / (epoch.length || 1),
  }));
  const findings = [...crossFindings];
  for (const s of sources) {
    if (Math.abs(s.realised - s.target) > 0.02) {
      findings.push({
        id: "balance/mix",
        category: "balance",
        title: `Source ${s.name}: realised share ${pct(s.realised)} against target ${pct(s.target)}`,
        severity: "warning",
        source: null,
        count: realised.get(s.name) ?? 0,
        total: epoch.length,
        filter: { name: "weight", active: true, setting: `data.sources.${s.name}.weight / samples` },
        examples: [],
        ids: [],
      });
    }
  }
  const trainRows = all.filter((r) => split.train.has(r.id));
  const bal = balance(null, trainRows, opts.baseDir, weights);
  const div = diversity(null, trainRows, opts.baseDir, opts.seed);
  findings.push(...bal.findings);
  return {
    sources,
    samples: epoch.length,
    balance: bal.stats,
    diversity: div.stats,
    findings: sortFindings(findings),
  };
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function sortFindings(fs: Finding[]): Finding[] {
  return fs.sort((a, b) => SEVERITY[a.severity] - SEVERITY[b.severity] || b.count - a.count);
}

/** Filters as shown (a `where` function becomes a marker). */
function filtersShown(f: Partial<FiltersOutput>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) out[k] = typeof v === "function" ? "(function)" : v;
  return out;
}

/** The report as JSON: finding ids dropped (examples carry the rows), paths relative. */
export function reportJson(report: QualityReport): unknown {
  const strip = (f: Finding) => {
    const { ids: _ids, ...rest } = f;
    return rest;
  };
  return {
    ...report,
    sources: report.sources.map((s) => ({ ...s, findings: s.findings.map(strip) })),
    mix: report.mix ? { ...report.mix, findings: report.mix.findings.map(strip) } : null,
    findings: report.findings.map(strip),
  };
}
