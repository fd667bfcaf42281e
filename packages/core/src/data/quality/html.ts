// The self-contained HTML report: tables and inline SVG, no scripts, no network.
import { barChart, columnChart, esc } from "./svg.ts";
import type {
  Balance,
  Concision,
  Diversity,
  Finding,
  MixQuality,
  QualityReport,
  SourceQuality,
} from "./types.ts";

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:36px}h3{font-size:15px;margin-top:22px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}.chart text{font-size:11px;fill:#333}.chart .small{font-size:10px}
.error{color:#b00020;font-weight:600}.warning{color:#a15c00;font-weight:600}.info{color:#345}
code{background:#f4f4f4;padding:0 3px}details summary{cursor:pointer}.ex{font-size:12px;color:#444}.ex code{white-space:nowrap}
.grid{display:flex;flex-wrap:wrap;gap:24px}.muted{color:#777}`;

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function renderHtml(report: QualityReport): string {
  const parts = [
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Data quality: ${esc(report.recipe)}</title><style>${CSS}</style></head><body>`,
    `<h1>Data quality: ${esc(report.recipe)}</h1>`,
    `<p class="muted">Rows are analysed as read, before the recipe's filters; each finding names the filter that acts on it (✓ when the recipe already sets it). Near-duplicates: MinHash of word 3-grams, Jaccard ≥ ${report.nearThreshold}.</p>`,
    overview(report),
    `<h2>All findings</h2>`,
    findingsTable(report.findings),
    ...(report.mix ? [mixSection(report.mix)] : []),
    ...report.sources.map(sourceSection),
    `</body></html>`,
  ];
  return parts.join("\n");
}

function overview(r: QualityReport): string {
  const rows = r.sources.map((s) => {
    const flagged = new Set(
      s.findings.filter((f) => f.category !== "diversity" && f.category !== "balance").flatMap((f) => f.ids),
    );
    return `<tr><td><a href="#src-${esc(s.name)}">${esc(s.name)}</a></td><td class="n">${s.rows}</td><td class="n">${s.analysed}</td><td class="n">${s.skipped}</td><td class="n">${flagged.size} (${pct(flagged.size / (s.analysed || 1))})</td><td>${esc(JSON.stringify(s.filters))}</td></tr>`;
  });
  return `<table><tr><th>source</th><th>rows</th><th>analysed</th><th>unreadable</th><th>rows with a finding</th><th>filters</th></tr>${rows.join("")}</table>`;
}

function findingsTable(fs: Finding[]): string {
  if (fs.length === 0) return `<p>No findings.</p>`;
  const rows = fs.map((f) => {
    const ex = f.examples
      .map(
        (e) =>
          `<div><code>${esc(e.where)}</code> ${e.note ? `<i>${esc(e.note)}</i> ` : ""}${esc(e.snippet)}</div>`,
      )
      .join("");
    return `<tr><td class="${f.severity}">${f.severity}</td><td>${f.category}</td><td>${esc(f.source ?? "mix")}</td><td>${esc(f.title)}<details class="ex"><summary>${f.examples.length} example${f.examples.length === 1 ? "" : "s"}</summary>${ex}</details></td><td class="n">${f.count}</td><td class="n">${pct(f.count / (f.total || 1))}</td><td><code>${esc(f.filter.name)}</code>${f.filter.active ? " ✓" : ""}<div class="ex">${esc(f.filter.setting)}</div></td></tr>`;
  });
  return `<table><tr><th>severity</th><th>category</th><th>source</th><th>finding</th><th>rows</th><th>share</th><th>filter</th></tr>${rows.join("")}</table>`;
}

function diversityBlock(d: Diversity): string {
  const distinct = `<table><tr><th></th><th>distinct-1</th><th>distinct-2</th></tr><tr><td>instructions</td><td class="n">${d.distinct.prompt1.toFixed(3)}</td><td class="n">${d.distinct.prompt2.toFixed(3)}</td></tr><tr><td>answers</td><td class="n">${d.distinct.answer1.toFixed(3)}</td><td class="n">${d.distinct.answer2.toFixed(3)}</td></tr></table>`;
  const lead = barChart(
    d.leadingWords.map((s) => ({ label: s.name, value: s.share })),
    pct,
  );
  const clusters = d.clusters.length
    ? `<table><tr><th>cluster (top terms)</th><th>rows</th><th>share</th><th>examples</th></tr>${d.clusters
        .map(
          (c) =>
            `<tr><td>${esc(c.terms.join(", "))}</td><td class="n">${c.size}</td><td class="n">${pct(c.share)}</td><td class="ex">${c.examples.map((e) => `<div><code>${esc(e.where)}</code> ${esc(e.snippet)}</div>`).join("")}</td></tr>`,
        )
        .join("")}</table>`
    : `<p class="muted">Too few rows to cluster.</p>`;
  return `<h3>Diversity</h3><div class="grid"><div>${distinct}<p>Leading words (entropy ${d.leadingEntropy.toFixed(2)} of 1):</p>${lead}</div></div><p>Lexical clusters of the instructions:</p>${clusters}`;
}

function concisionBlock(c: Concision): string {
  const p = c.answerChars;
  return `<h3>Concision</h3><p>Answer length in characters: p5 ${p.p5}, median ${p.p50}, p95 ${p.p95}, p99 ${p.p99}, max ${p.max}. Answer/instruction word ratio: median ${c.ratio.median.toFixed(2)}×, outliers below ${c.ratio.low.toFixed(2)}× or above ${c.ratio.high.toFixed(2)}×.</p>${columnChart(c.histogram.labels, c.histogram.counts)}`;
}

function balanceBlock(b: Balance): string {
  return `<h3>Balance and difficulty</h3><p>Tasks by ${esc(b.taskBy)}:</p>${barChart(
    b.tasks.map((s) => ({ label: s.name, value: s.share })),
    pct,
  )}<div class="grid"><div><p>Difficulty (length and turns):</p>${barChart(
    b.difficulty.map((s) => ({ label: s.name, value: s.share })),
    pct,
    360,
  )}</div><div><p>User turns:</p>${barChart(
    b.turns.map((s) => ({ label: s.name, value: s.share })),
    pct,
    360,
  )}</div></div>`;
}

function sourceSection(s: SourceQuality): string {
  const errors = s.errors.length
    ? `<p>Unreadable rows and files (the plan lists them all):</p><ul>${s.errors.map((e) => `<li><code>${esc(e)}</code></li>`).join("")}</ul>`
    : "";
  return [
    `<h2 id="src-${esc(s.name)}">Source ${esc(s.name)}</h2>`,
    `<p>${s.rows} rows read, ${s.analysed} analysed, ${s.skipped} unreadable. Filters: <code>${esc(JSON.stringify(s.filters))}</code></p>`,
    errors,
    `<h3>Findings</h3>`,
    findingsTable(s.findings),
    diversityBlock(s.diversity),
    concisionBlock(s.concision),
    balanceBlock(s.balance),
  ].join("\n");
}

function mixSection(m: MixQuality): string {
  const table = `<table><tr><th>source</th><th>train rows</th><th>eval rows</th><th>weight</th><th>target share</th><th>realised share</th></tr>${m.sources
    .map(
      (s) =>
        `<tr><td>${esc(s.name)}</td><td class="n">${s.trainRows}</td><td class="n">${s.evalRows}</td><td class="n">${s.weight.toFixed(2)}</td><td class="n">${pct(s.target)}</td><td class="n">${pct(s.realised)}</td></tr>`,
    )
    .join("")}</table>`;
  const chart = barChart(
    m.sources.map((s) => ({ label: s.name, value: s.realised, second: s.target })),
    pct,
  );
  return [
    `<h2>The realised mix (epoch 1, ${m.samples} samples)</h2>`,
    table,
    `<p>Realised share (blue) against the target from the weights (orange):</p>`,
    chart,
    `<h3>Findings over the mix</h3>`,
    findingsTable(m.findings),
    balanceBlock(m.balance),
    diversityBlock(m.diversity),
  ].join("\n");
}
