// Text helpers for the CLI and the reports: human sizes and counts, aligned tables, colours only where wanted.
import pc from "picocolors";

export type Colors = ReturnType<typeof pc.createColors>;

export function colorsFor(stream: NodeJS.WriteStream): Colors {
  const enabled = Boolean(stream.isTTY) && !process.env.NO_COLOR && process.env.TERM !== "dumb";
  return pc.createColors(enabled);
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}

export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined) return "–";
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

export function formatPercent(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined ? "–" : `${(x * 100).toFixed(digits)}%`;
}

/** A left/right aligned text table; numeric-looking cells align right. */
export function table(header: string[], rows: string[][], c?: Colors): string {
  const all = [header, ...rows];
  const widths = header.map((_, j) => Math.max(...all.map((r) => visibleLength(r[j] ?? ""))));
  const numeric = header.map(
    (_, j) => rows.length > 0 && rows.every((r) => /^[-–\d.,%KMB ]+[a-zA-Z]*$/.test(r[j] ?? "")),
  );
  const line = (r: string[]) =>
    r
      .map((cell, j) => {
        const pad = " ".repeat(widths[j]! - visibleLength(cell));
        return numeric[j] ? pad + cell : cell + pad;
      })
      .join("  ")
      .trimEnd();
  const head = line(header);
  return [c ? c.dim(head) : head, ...rows.map(line)].map((l) => `  ${l}`).join("\n");
}

function visibleLength(s: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes to measure width
  return s.replace(/\x1b\[[0-9;]*m/g, "").length;
}
