// Quality-report bench: 50k alpaca rows (a fixture repeated with perturbations: renamed, reworded, some
// defects) read and analysed on one thread; prints time and peak memory. Synthetic rows without fixtures.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fakeEncode, fakeEncodeCompletion } from "../packages/core/src/data/fake-encoder.ts";
import { prepareData } from "../packages/core/src/data/pipeline.ts";
import { renderHtml } from "../packages/core/src/data/quality/html.ts";
import { buildQualityReport } from "../packages/core/src/data/quality/report.ts";
import { SourceSchema } from "../packages/core/src/recipe/schema/data.ts";
import { fixture, hasSharedFixtures } from "../packages/core/src/testing/fixtures.ts";

const ROWS = 50_000;

function baseRows(): Record<string, string>[] {
  if (hasSharedFixtures) {
    const en = JSON.parse(readFileSync(fixture("datasets/llama-factory/alpaca_en_demo.json"), "utf8"));
    const zh = JSON.parse(readFileSync(fixture("datasets/llama-factory/alpaca_zh_demo.json"), "utf8"));
    return [...en, ...zh] as Record<string, string>[];
  }
  return Array.from({ length: 2000 }, (_, i) => ({
    instruction: `Question ${i}: ${"word ".repeat(10 + (i % 50))}`,
    input: "",
    output: `Answer ${i}: ${"text ".repeat(20 + (i % 200))}.`,
  }));
}

const WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"];

/** Row i: a base row with a per-copy twist, so most rows are distinct and some are near-duplicates. */
function perturb(row: Record<string, string>, i: number, copy: number): Record<string, string> {
  const tag = `${WORDS[copy % 10]} ${WORDS[Math.floor(copy / 10) % 10]} ${copy}`;
  const out: Record<string, string> = { ...row, instruction: `${row.instruction} (${tag})` };
  const output = row.output ?? "";
  // Every 50th row keeps its copy-0 answer (a near-duplicate); the rest get every 4th word replaced.
  out.output = i % 50 === 7 ? `${output} ${WORDS[i % 10]}` : reword(output, copy);
  if (i % 500 === 3) out.output = "";
  if (i % 500 === 5) out.output = "I'm sorry, but I cannot help with that request.";
  return out;
}

function reword(text: string, copy: number): string {
  if (copy === 0) return text;
  return text
    .split(" ")
    .map((w, j) => ((j + copy) % 4 === 0 ? `${WORDS[(j * 7 + copy) % 10]}${copy}` : w))
    .join(" ");
}

export default async function (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "sft-quality-bench-"));
  try {
    const base = baseRows();
    const lines: string[] = [];
    for (let i = 0; i < ROWS; i++)
      lines.push(JSON.stringify(perturb(base[i % base.length]!, i, Math.floor(i / base.length))));
    writeFileSync(join(dir, "data.jsonl"), lines.join("\n"));
    lines.length = 0;
    const sources = { bench: SourceSchema.parse({ path: "data.jsonl", format: "alpaca", eval: 0.01 }) };
    let peak = 0;
    const sample = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    const rss0 = process.memoryUsage().rss;
    let t = performance.now();
    const report = await buildQualityReport({ recipe: "bench", baseDir: dir, sources, seed: 42 });
    const reportS = (performance.now() - t) / 1000;
    t = performance.now();
    const html = renderHtml(report);
    const htmlS = (performance.now() - t) / 1000;
    peak = Math.max(peak, process.memoryUsage().rss);
    const reportPeak = peak;
    console.log(
      `quality bench: ${ROWS} rows (${hasSharedFixtures ? "alpaca en+zh fixtures, perturbed" : "synthetic"})`,
    );
    console.log(
      `  report (sources): ${reportS.toFixed(2)} s  ${(ROWS / reportS).toFixed(0)} rows/s; html ${htmlS.toFixed(2)} s (${(html.length / 1024).toFixed(0)} KiB); peak RSS ${(reportPeak / 2 ** 20).toFixed(0)} MiB (start ${(rss0 / 2 ** 20).toFixed(0)} MiB)`,
    );
    console.log(`  findings: ${report.findings.map((f) => `${f.id} ${f.count}`).join(", ")}`);
    // With the pipeline's output too (mix, leakage): the byte-level fake encoder holds ~2 ids per character.
    t = performance.now();
    const prepared = await prepareData({
      baseDir: dir,
      sources,
      seed: 42,
      cacheDir: null,
      encode: fakeEncode,
      encodeCompletion: fakeEncodeCompletion,
      cacheKeyExtra: "",
      maxLength: 4096,
      overLength: "truncate",
    });
    const prepS = (performance.now() - t) / 1000;
    t = performance.now();
    const withMix = await buildQualityReport({ recipe: "bench", baseDir: dir, sources, seed: 42, prepared });
    const mixS = (performance.now() - t) / 1000;
    clearInterval(sample);
    peak = Math.max(peak, process.memoryUsage().rss);
    console.log(
      `  with the mix: pipeline ${prepS.toFixed(2)} s, report ${mixS.toFixed(2)} s; peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB; leakage ${withMix.mix?.findings.find((f) => f.id === "duplicates/leakage")?.count ?? 0}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
