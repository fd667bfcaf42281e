// `sft data --inspect`: samples rendered with their trained spans marked, per-source statistics, and a JSON form.
import { relative } from "node:path";
import type { PreparedData, SourceReport } from "../pipeline.ts";
import { IGNORE_INDEX, type TokenizedSample } from "../types.ts";

export interface InspectOptions {
  n: number;
  /** ANSI colour for trained spans; otherwise `[[...]]` brackets around them. */
  color: boolean;
  decode: (ids: number[]) => string;
  tokenText: (id: number) => string;
  /** Also list the first this-many tokens as `text(id)`, trained ones starred. */
  tokens?: number;
  /** Per-source statistics appended below the samples. */
  reports?: SourceReport[];
  /** Paths are shown relative to this folder. */
  baseDir?: string;
}

export interface InspectedSample {
  source: string;
  file: string;
  row: number;
  text: string;
  input_ids: number[];
  labels: number[];
}

const GREEN = "\x1b[42m\x1b[30m";
const DIM = "\x1b[2m";
const RESET = "\x1b[0m";

/** Up to n samples, taken round-robin over the sources so each shows up. */
export function pickSamples(prepared: PreparedData, n: number): TokenizedSample[] {
  const lists = prepared.reports.map((r) => prepared.train[r.name] ?? []);
  const out: TokenizedSample[] = [];
  for (let i = 0; out.length < n && lists.some((l) => i < l.length); i++) {
    for (const l of lists) if (i < l.length && out.length < n) out.push(l[i]!);
  }
  return out;
}

/** Runs of tokens that are all trained or all masked. */
export function spans(sample: TokenizedSample): { trained: boolean; ids: number[] }[] {
  const out: { trained: boolean; ids: number[] }[] = [];
  sample.inputIds.forEach((id, i) => {
    const trained = sample.labels[i] !== IGNORE_INDEX;
    const last = out[out.length - 1];
    if (last && last.trained === trained) last.ids.push(id);
    else out.push({ trained, ids: [id] });
  });
  return out;
}

/**
 * Each span's text as a slice of the whole sample's decoded text, so a span keeps a space that belongs to it
 * (a decoder strips a leading space at the start of what it decodes) and gains none it does not have.
 */
export function spanTexts(
  list: { trained: boolean; ids: number[] }[],
  decode: (ids: number[]) => string,
): { trained: boolean; text: string }[] {
  const ids: number[] = [];
  let before = "";
  return list.map((sp) => {
    ids.push(...sp.ids);
    const upTo = decode(ids);
    // A prefix that does not decode as a prefix (a UTF-8 sequence cut at the boundary): decode the span alone.
    const text = upTo.startsWith(before) ? upTo.slice(before.length) : decode(sp.ids);
    before = upTo;
    return { trained: sp.trained, text };
  });
}

function where(s: TokenizedSample, baseDir: string | undefined): string {
  const file = baseDir ? relative(baseDir, s.origin.file) : s.origin.file;
  return s.origin.line !== undefined ? `${file}:${s.origin.line}` : `${file}#${s.origin.index}`;
}

export function formatInspection(samples: TokenizedSample[], opts: InspectOptions): string {
  const lines: string[] = [];
  const shown = samples.slice(0, opts.n);
  shown.forEach((s, k) => {
    const trained = s.labels.filter((l) => l !== IGNORE_INDEX).length;
    const head = `── sample ${k + 1}/${shown.length} · ${s.source} · ${where(s, opts.baseDir)} · ${s.inputIds.length} tokens, ${trained} trained ──`;
    lines.push(opts.color ? `${DIM}${head}${RESET}` : head);
    const text = spanTexts(spans(s), opts.decode)
      .map(({ trained, text: t }) => {
        if (!trained) return t;
        return opts.color ? `${GREEN}${t}${RESET}` : `[[${t}]]`;
      })
      .join("");
    lines.push(text);
    if (opts.tokens) {
      const toks = s.inputIds.slice(0, opts.tokens).map((id, i) => {
        const mark = s.labels[i] !== IGNORE_INDEX ? "*" : "";
        return `${mark}${JSON.stringify(opts.tokenText(id))}(${id})`;
      });
      lines.push(`tokens: ${toks.join(" ")}${s.inputIds.length > opts.tokens ? " …" : ""}`);
    }
    lines.push("");
  });
  if (opts.reports) lines.push(formatSourceStats(opts.reports));
  return lines.join("\n");
}

/** One line per source: rows, bad, filtered, train/eval, tokens, trained share, longest, over-length, per epoch. */
export function formatSourceStats(reports: SourceReport[]): string {
  const header = [
    "source",
    "rows",
    "bad",
    "filtered",
    "train",
    "eval",
    "tokens",
    "trained",
    "longest",
    "over-length",
    "per epoch",
  ];
  const rows = reports.map((r) => {
    const filtered = Object.entries(r.filtered)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
    const over = r.overLength.dropped + r.overLength.truncated + r.overLength.errors;
    const overText =
      over === 0
        ? "0"
        : `${r.overLength.truncated} cut, ${r.overLength.dropped} dropped, ${r.overLength.errors} errors`;
    return [
      r.name,
      String(r.rows),
      String(r.badRows),
      filtered || "0",
      String(r.trainRows),
      String(r.evalRows),
      String(r.tokens),
      r.tokens > 0 ? `${((100 * r.trainedTokens) / r.tokens).toFixed(1)}%` : "-",
      String(r.longest),
      overText,
      `${r.samplesPerEpoch} (×${r.weight.toFixed(2)})`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [fmt(header), ...rows.map(fmt)].join("\n");
}

/** The JSON form of `sft data --inspect N --json`: labels are -100 where masked. */
export function inspectJson(
  samples: TokenizedSample[],
  opts: { n: number; decode: (ids: number[]) => string; baseDir?: string },
): InspectedSample[] {
  return samples.slice(0, opts.n).map((s) => ({
    source: s.source,
    file: opts.baseDir ? relative(opts.baseDir, s.origin.file) : s.origin.file,
    row: s.origin.line ?? s.origin.index,
    text: opts.decode(s.inputIds),
    input_ids: s.inputIds,
    labels: s.labels,
  }));
}
