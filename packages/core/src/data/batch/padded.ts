import { rngFor, shuffle } from "../mix/rng.ts";
import type { PaddedMicroBatch, ScheduleSummary } from "./types.ts";

export function roundUp(n: number, multiple: number): number {
  return multiple > 1 ? Math.ceil(n / multiple) * multiple : n;
}

/** Sample indices sorted by length; ties (and so batch composition) shuffled per seed and epoch. */
export function byLength(lengths: readonly number[], seed: number, epoch: number): number[] {
  const order = shuffle(
    Array.from({ length: lengths.length }, (_, i) => i),
    rngFor(seed, "batch-ties", epoch),
  );
  return order.sort((a, b) => lengths[a]! - lengths[b]!);
}

/**
 * Length-sorted samples cut into contiguous micro-batches with rows × padded length ≤ budget, by dynamic
 * programming: minimises padded tokens + `overheadTokens` per micro-batch (a step's fixed cost, in tokens).
 * Greedy filling wastes padding where a batch straddles a jump in length; the DP cuts at the jumps.
 */
export function bucketByTokens(
  lengths: readonly number[],
  budget: number,
  opts: { padMultiple?: number; seed?: number; epoch?: number; overheadTokens?: number } = {},
): PaddedMicroBatch[] {
  const pad = opts.padMultiple ?? 1;
  const order = byLength(lengths, opts.seed ?? 0, opts.epoch ?? 0);
  const n = order.length;
  const len = Float64Array.from(order, (i) => roundUp(lengths[i]!, pad));
  const overhead = opts.overheadTokens ?? budget / 64;
  const prefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i]! + len[i]!;
  const cost = new Float64Array(n + 1).fill(Number.POSITIVE_INFINITY);
  const from = new Int32Array(n + 1);
  cost[0] = 0;
  for (let i = 1; i <= n; i++) {
    const L = len[i - 1]!;
    // Sorted ascending: the batch [j, i) is padded to L and holds at most budget / L rows (at least one).
    const maxRows = Math.max(1, Math.floor(budget / L));
    for (let j = i - 1; j >= Math.max(0, i - maxRows); j--) {
      const c = cost[j]! + overhead + (i - j) * L - (prefix[i]! - prefix[j]!);
      if (c < cost[i]!) {
        cost[i] = c;
        from[i] = j;
      }
    }
  }
  const out: PaddedMicroBatch[] = [];
  for (let i = n; i > 0; i = from[i]!) {
    out.push({ samples: order.slice(from[i]!, i), paddedLength: len[i - 1]! });
  }
  return shuffle(out.reverse(), rngFor(opts.seed ?? 0, "batch-order", opts.epoch ?? 0));
}

/** Fixed-size micro-batches of length-neighbouring samples. */
export function fixedSize(
  lengths: readonly number[],
  size: number,
  opts: { padMultiple?: number; seed?: number; epoch?: number } = {},
): PaddedMicroBatch[] {
  const sorted = byLength(lengths, opts.seed ?? 0, opts.epoch ?? 0);
  const out: PaddedMicroBatch[] = [];
  for (let s = 0; s < sorted.length; s += size) {
    const samples = sorted.slice(s, s + size);
    out.push({
      samples,
      paddedLength: roundUp(lengths[samples[samples.length - 1]!]!, opts.padMultiple ?? 1),
    });
  }
  return shuffle(out, rngFor(opts.seed ?? 0, "batch-order", opts.epoch ?? 0));
}

export function summarisePadded(lengths: readonly number[], batches: PaddedMicroBatch[]): ScheduleSummary {
  let tokens = 0;
  let padded = 0;
  let samples = 0;
  let longest = 0;
  for (const b of batches) {
    for (const i of b.samples) tokens += lengths[i]!;
    padded += b.samples.length * b.paddedLength;
    samples += b.samples.length;
    longest = Math.max(longest, b.paddedLength);
  }
  return {
    microBatches: batches.length,
    samples,
    rows: samples,
    tokens,
    paddedTokens: padded,
    paddingFraction: padded > 0 ? 1 - tokens / padded : 0,
    longestRow: longest,
  };
}
