// Small statistics helpers: percentiles, median/MAD, log-scale histograms, shares, entropy.
import type { Histogram, Share } from "./types.ts";

/** Percentile of sorted values (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function medianMad(values: Float64Array): { median: number; mad: number } {
  const sorted = Float64Array.from(values).sort();
  const median = percentile(sorted, 50);
  const dev = Float64Array.from(sorted, (v) => Math.abs(v - median)).sort();
  return { median, mad: percentile(dev, 50) };
}

/** Buckets 0, 1-9, 10-31, 32-99, ... (powers of sqrt 10): lengths spread over orders of magnitude. */
export function logHistogram(values: ArrayLike<number>): Histogram {
  const edges = [0, 1, 10, 32, 100, 316, 1000, 3162, 10000, 31623, 100000];
  const counts = new Array<number>(edges.length).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    let b = 0;
    while (b + 1 < edges.length && v >= edges[b + 1]!) b++;
    counts[b]!++;
  }
  let last = counts.length - 1;
  while (last > 0 && counts[last] === 0) last--;
  const labels = edges.slice(0, last + 1).map((e, i) => {
    const next = edges[i + 1];
    if (e === 0) return "0";
    return next === undefined || i === last ? `≥${e}` : `${e}–${next - 1}`;
  });
  return { labels, counts: counts.slice(0, last + 1) };
}

/** Counts to shares, largest first; the tail beyond `top` is folded into "other". */
export function shares(counts: Map<string, number>, top = 12): Share[] {
  let total = 0;
  for (const n of counts.values()) total += n;
  const sorted = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const out: Share[] = sorted
    .slice(0, top)
    .map(([name, count]) => ({ name, count, share: count / (total || 1) }));
  const rest = sorted.slice(top).reduce((a, [, n]) => a + n, 0);
  if (rest > 0) out.push({ name: "(other)", count: rest, share: rest / total });
  return out;
}

/** Shannon entropy of the counts over log(number of kinds): 1 for an even spread. */
export function normalisedEntropy(counts: Map<string, number>): number {
  let total = 0;
  for (const n of counts.values()) total += n;
  if (counts.size <= 1 || total === 0) return 0;
  let h = 0;
  for (const n of counts.values()) {
    const p = n / total;
    if (p > 0) h -= p * Math.log(p);
  }
  return h / Math.log(counts.size);
}

export function bump(m: Map<string, number>, k: string, by = 1): void {
  m.set(k, (m.get(k) ?? 0) + by);
}
