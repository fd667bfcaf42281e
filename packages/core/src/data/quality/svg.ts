// Hand-written inline SVG charts for the HTML report: horizontal bars and a column histogram.

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const BAR = "#4c78a8";
const ALT = "#f58518";

/** Horizontal bars, one per item; `second` draws a thinner comparison bar (e.g. target vs realised). */
export function barChart(
  items: { label: string; value: number; second?: number }[],
  format: (v: number) => string,
  width = 520,
): string {
  if (items.length === 0) return "";
  const labelW = 170;
  const row = 20;
  const max = Math.max(...items.map((i) => Math.max(i.value, i.second ?? 0)), 1e-9);
  const barW = width - labelW - 70;
  const h = items.length * row + 6;
  const rows = items.map((it, i) => {
    const y = i * row + 3;
    const w = (it.value / max) * barW;
    const second =
      it.second === undefined
        ? ""
        : `<rect x="${labelW}" y="${y + 12}" width="${((it.second / max) * barW).toFixed(1)}" height="4" fill="${ALT}"/>`;
    return (
      `<text x="${labelW - 6}" y="${y + 12}" text-anchor="end">${esc(clip(it.label, 26))}</text>` +
      `<rect x="${labelW}" y="${y + 2}" width="${w.toFixed(1)}" height="${it.second === undefined ? 14 : 9}" fill="${BAR}"/>` +
      second +
      `<text x="${labelW + Math.max(w, it.second === undefined ? 0 : (it.second / max) * barW) + 4}" y="${y + 12}">${esc(format(it.value))}${it.second === undefined ? "" : ` / ${esc(format(it.second))}`}</text>`
    );
  });
  return `<svg class="chart" width="${width}" height="${h}" viewBox="0 0 ${width} ${h}" role="img">${rows.join("")}</svg>`;
}

/** Columns with labels below: a distribution over ordered buckets. */
export function columnChart(labels: string[], counts: number[], width = 520): string {
  if (counts.length === 0) return "";
  const h = 150;
  const base = h - 34;
  const max = Math.max(...counts, 1);
  const colW = Math.min(60, (width - 20) / counts.length);
  const cols = counts.map((c, i) => {
    const x = 10 + i * colW;
    const ch = (c / max) * (base - 14);
    return (
      `<rect x="${(x + 2).toFixed(1)}" y="${(base - ch).toFixed(1)}" width="${(colW - 4).toFixed(1)}" height="${ch.toFixed(1)}" fill="${BAR}"/>` +
      `<text x="${(x + colW / 2).toFixed(1)}" y="${(base - ch - 3).toFixed(1)}" text-anchor="middle">${c}</text>` +
      `<text x="${(x + colW / 2).toFixed(1)}" y="${base + 14}" text-anchor="middle" class="small">${esc(labels[i] ?? "")}</text>`
    );
  });
  return `<svg class="chart" width="${width}" height="${h}" viewBox="0 0 ${width} ${h}" role="img"><line x1="8" y1="${base}" x2="${width - 8}" y2="${base}" stroke="#999"/>${cols.join("")}</svg>`;
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
