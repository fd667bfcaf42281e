// Concision: the answer-length distribution, and answers far shorter or longer than their instruction asks for.
import type { FiltersOutput } from "../formats/filters.ts";
import { FindingBuilder } from "./refs.ts";
import { logHistogram, medianMad, percentile } from "./stats.ts";
import { words } from "./text.ts";
import type { Concision, Finding, QualityRow } from "./types.ts";

/** Robust z-score beyond which an answer/instruction ratio is an outlier (Iglewicz-Hoaglin). */
const Z = 3.5;

export function concision(
  source: string,
  rows: readonly QualityRow[],
  filters: Partial<FiltersOutput>,
  baseDir: string,
): { stats: Concision; findings: Finding[] } {
  const chars = Float64Array.from(rows, (r) => r.answer.trim().length);
  const sorted = Float64Array.from(chars).sort();
  const pick = (p: number) => percentile(sorted, p);
  // Log of (answer words + 1) / (instruction words + 1), over rows with an instruction and an answer.
  const withPrompt = rows.filter((r) => r.prompt.trim() !== "" && r.answer.trim() !== "");
  const ratios = Float64Array.from(withPrompt, (r) =>
    Math.log((words(r.answer).length + 1) / (words(r.prompt).length + 1)),
  );
  const { median, mad } = medianMad(ratios);
  const spread = Math.max(mad, 0.25) / 0.6745;
  const low = median - Z * spread;
  const high = median + Z * spread;
  const short = new FindingBuilder(baseDir, {
    id: "concision/short",
    category: "concision",
    title: "Answer far shorter than its instruction (ratio outlier)",
    severity: "info",
    source,
    filter: {
      name: "minLength",
      active: filters.minLength !== undefined,
      setting: `filters: { minLength: ${Math.max(1, Math.round(pick(5)))} } (answer characters; p5 here)`,
    },
  });
  const long = new FindingBuilder(baseDir, {
    id: "concision/long",
    category: "concision",
    title: "Answer far longer than its instruction (ratio outlier)",
    severity: "info",
    source,
    filter: {
      name: "maxLength",
      active: filters.maxLength !== undefined,
      setting: `filters: { maxLength: ${Math.max(1, Math.round(pick(99)))} } (answer characters; p99 here)`,
    },
  });
  withPrompt.forEach((r, i) => {
    const v = ratios[i]!;
    const note = `answer/instruction ${Math.exp(v).toFixed(2)}× (typical ${Math.exp(median).toFixed(2)}×)`;
    if (v < low) short.add(r, note);
    else if (v > high) long.add(r, note);
  });
  return {
    stats: {
      answerChars: { p5: pick(5), p50: pick(50), p95: pick(95), p99: pick(99), max: pick(100) },
      histogram: logHistogram(chars),
      ratio: { median: Math.exp(median), low: Math.exp(low), high: Math.exp(high) },
    },
    findings: [short.build(withPrompt.length), long.build(withPrompt.length)].filter(
      (x): x is Finding => x !== null,
    ),
  };
}
