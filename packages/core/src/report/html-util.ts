// Small HTML helpers shared by report.html and the notebook displays: escaping, tables, the page's CSS.

export function esc(s: unknown): string {
  return String(s)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** A key/value table: one row per fact. */
export function factsTable(rows: [string, string][], cls = "sft-facts"): string {
  const body = rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("");
  return `<table class="${cls}">${body}</table>`;
}

/** A table with a header row; cells that look numeric align right. */
export function gridTable(head: string[], rows: string[][]): string {
  const numeric = (s: string) => /^[-–\d.,%KMB eE+]+[a-zA-Z/]*$/.test(s);
  const th = head.map((h) => `<th>${esc(h)}</th>`).join("");
  const body = rows
    .map((r) => `<tr>${r.map((c) => `<td${numeric(c) ? ' class="n"' : ""}>${esc(c)}</td>`).join("")}</tr>`)
    .join("");
  return `<table class="sft-grid"><tr>${th}</tr>${body}</table>`;
}

/** Inline SVG in HTML needs no namespace declarations; dropping them keeps the page free of URLs. */
export function inlineSvg(svg: string): string {
  return svg.replace(/\s+xmlns(:\w+)?="[^"]*"/g, "");
}

// Scoped to .sftkit so a notebook's own styles are left alone.
export const CSS = `.sftkit{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222}
.sftkit h1{font-size:22px;margin:0 0 8px}.sftkit h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:3px;margin:28px 0 8px}
.sftkit h3{font-size:14px;margin:14px 0 4px}.sftkit table{border-collapse:collapse;margin:6px 0}
.sftkit td,.sftkit th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
.sftkit .sft-grid th,.sftkit .sft-facts th{background:#f5f5f5;font-weight:600}.sftkit td.n{text-align:right;font-variant-numeric:tabular-nums}
.sftkit .cols{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:flex-start}.sftkit .muted{color:#777}
.sftkit .warn{color:#a15c00}.sftkit .charts svg{max-width:100%;height:auto;display:block;margin:6px 0}
.sftkit pre{background:#f5f5f5;padding:6px 8px;white-space:pre-wrap;margin:4px 0}`;
