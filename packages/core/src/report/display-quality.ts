// The data-quality report in a notebook: its HTML page's body with its styles scoped to the output cell.
import { renderHtml } from "../data/quality/html.ts";
import type { QualityReport } from "../data/quality/types.ts";
import { attachDisplay, type Displayable } from "./display.ts";

const SCOPE = ".sftkit-quality";

/** Prefixes each CSS rule's selectors with the scope; `body` becomes the scope itself. */
export function scopeCss(css: string): string {
  return css.replace(/([^{}]+)\{([^{}]*)\}/g, (_, selectors: string, body: string) => {
    const scoped = selectors
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => (s === "body" || s === "html" ? SCOPE : `${SCOPE} ${s}`))
      .join(",");
    return `${scoped}{${body}}`;
  });
}

export function qualityHtml(report: QualityReport): string {
  const page = renderHtml(report);
  const css = /<style>([\s\S]*?)<\/style>/.exec(page)?.[1] ?? "";
  const body = /<body[^>]*>([\s\S]*)<\/body>/.exec(page)?.[1] ?? page;
  return `<div class="${SCOPE.slice(1)}"><style>${scopeCss(css)}</style>${body}</div>`;
}

export function qualityText(report: QualityReport): string {
  const count = (s: string) => report.findings.filter((f) => f.severity === s).length;
  const lines = [
    `Data quality: ${report.recipe} — ${report.findings.length} findings (${count("error")} errors, ${count("warning")} warnings, ${count("info")} notes)`,
    ...report.sources.map(
      (s) => `  ${s.name}: ${s.rows} rows, ${s.analysed} analysed, ${s.skipped} unreadable`,
    ),
    ...report.findings
      .slice(0, 10)
      .map(
        (f) =>
          `  ${f.severity.padEnd(7)} ${(f.source ?? "mix").padEnd(12)} ${String(f.count).padStart(5)}  ${f.title}`,
      ),
  ];
  if (report.findings.length > 10) lines.push(`  ... and ${report.findings.length - 10} more`);
  return lines.join("\n");
}

/** The same report object with non-enumerable display methods. */
export function displayQualityReport<R extends QualityReport>(report: R): R & Displayable {
  return attachDisplay(
    report,
    () => qualityHtml(report),
    () => qualityText(report),
  );
}
