// `sft data <recipe> --report FILE [--json]`: the data-quality report as HTML (or JSON), and a summary on stdout.
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, relative, resolve } from "node:path";
import { compileRecipe } from "../../compile/compile.ts";
import { buildQualityReport, renderHtml, reportJson } from "../../data/quality/index.ts";
import { formatDiagnostics } from "../../recipe/diagnostics.ts";
import type { SetFlag } from "../../recipe/overrides.ts";

export async function writeQualityReport(
  recipePath: string,
  file: string,
  json: boolean,
  sets: readonly SetFlag[] = [],
): Promise<void> {
  const result = await compileRecipe(recipePath, { write: false, sets });
  // Data errors (bad rows, a short maxLength) are what the report is for: go on when the recipe resolved.
  if (result.diagnostics.length)
    process.stderr.write(`${formatDiagnostics(result.diagnostics, { color: false })}\n\n`);
  const resolved = result.resolved;
  if (!resolved) {
    process.exitCode = 1;
    return;
  }
  const report = await buildQualityReport({
    recipe: relative(process.cwd(), resolved.file ?? recipePath) || recipePath,
    baseDir: resolved.baseDir,
    sources: resolved.recipe.data.sources,
    seed: resolved.recipe.data.seed,
    prepared: result.data?.prepared ?? null,
    maxLength: resolved.recipe.train.maxLength,
  });
  const asJson = json || file.endsWith(".json");
  const text = asJson ? `${JSON.stringify(reportJson(report), null, 2)}\n` : renderHtml(report);
  if (file === "-") {
    process.stdout.write(text);
    return;
  }
  const out = resolve(file);
  try {
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, text);
  } catch (e) {
    process.stderr.write(`sft data: cannot write the report to ${file}: ${(e as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const lines = report.findings
    .slice(0, 12)
    .map(
      (f) =>
        `  ${f.severity.padEnd(7)} ${(f.source ?? "mix").padEnd(14)} ${String(f.count).padStart(6)}  ${f.title}  [${f.filter.name}${f.filter.active ? " ✓" : ""}]`,
    );
  const more =
    report.findings.length > 12 ? [`  ... and ${report.findings.length - 12} more in the report`] : [];
  process.stdout.write(
    `${[`Data-quality report: ${file} (${report.findings.length} findings)`, ...lines, ...more].join("\n")}\n`,
  );
}
