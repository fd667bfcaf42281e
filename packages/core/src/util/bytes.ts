// Byte counts as people write them ($SFTKIT_GPU_MEMORY, recipes).

/** Parses "24GB", "80 GiB", "81920MiB" or plain bytes (binary units); null if it is none of these. */
export function parseBytes(text: string): number | null {
  const m = /^\s*([\d.]+)\s*([kmgt]?i?b?)?\s*$/i.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  if (!Number.isFinite(n) || n <= 0) return null;
  const unit = (m[2] ?? "").toLowerCase().replace(/i?b$/, "");
  const pow = { "": 0, k: 1, m: 2, g: 3, t: 4 }[unit];
  return pow === undefined ? null : Math.round(n * 1024 ** pow);
}
