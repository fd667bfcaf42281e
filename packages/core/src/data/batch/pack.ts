import { rngFor, shuffle } from "../mix/rng.ts";
import type { PackedMicroBatch, PackedRow, ScheduleSummary } from "./types.ts";

/** Which remaining capacities (0..max) have an open row: smallest one ≥ n, in O(max / 32). */
class CapacityIndex {
  private readonly words: Uint32Array;
  private readonly rows: PackedRow[][];
  constructor(readonly max: number) {
    this.words = new Uint32Array((max >> 5) + 1);
    this.rows = Array.from({ length: max + 1 }, () => []);
  }
  add(capacity: number, row: PackedRow): void {
    this.rows[capacity]!.push(row);
    this.words[capacity >> 5]! |= 1 << (capacity & 31);
  }
  /** Takes an open row with the smallest capacity ≥ n (best fit), or undefined. */
  take(n: number): [PackedRow, number] | undefined {
    for (let w = n >> 5; w < this.words.length; w++) {
      let bits = this.words[w]!;
      if (w === n >> 5) bits &= ~0 << (n & 31);
      if (bits === 0) continue;
      const capacity = (w << 5) + (31 - Math.clz32(bits & -bits));
      const list = this.rows[capacity]!;
      const row = list.pop()!;
      if (list.length === 0) this.words[w]! &= ~(1 << (capacity & 31));
      return [row, capacity];
    }
    return undefined;
  }
}

/**
 * Best-fit-decreasing packing of whole samples into rows of `maxLength` (no sample is cut).
 * Throws a RangeError for a sample longer than maxLength: the pipeline's over-length policy runs first.
 */
export function packRows(lengths: readonly number[], maxLength: number): PackedRow[] {
  const order = Array.from({ length: lengths.length }, (_, i) => i).sort(
    (a, b) => lengths[b]! - lengths[a]! || a - b,
  );
  const open = new CapacityIndex(maxLength);
  const rows: PackedRow[] = [];
  for (const i of order) {
    const len = lengths[i]!;
    if (len > maxLength)
      throw new RangeError(`sample ${i} has ${len} tokens, more than the packing length ${maxLength}`);
    if (len === 0) continue;
    const found = open.take(len);
    let row: PackedRow;
    if (found) row = found[0];
    else {
      row = { segments: [], used: 0 };
      rows.push(row);
    }
    row.segments.push({ sample: i, start: row.used, length: len });
    row.used += len;
    if (row.used < maxLength) open.add(maxLength - row.used, row);
  }
  return rows;
}

/** Packed rows, shuffled per seed/epoch, grouped into micro-batches padded to their longest row. */
export function packBatches(
  lengths: readonly number[],
  maxLength: number,
  rowsPerMicroBatch: number,
  opts: { seed?: number; epoch?: number } = {},
): PackedMicroBatch[] {
  const rows = shuffle(packRows(lengths, maxLength), rngFor(opts.seed ?? 0, "pack-order", opts.epoch ?? 0));
  const out: PackedMicroBatch[] = [];
  for (let s = 0; s < rows.length; s += rowsPerMicroBatch) {
    const group = rows.slice(s, s + rowsPerMicroBatch);
    out.push({ rows: group, paddedLength: Math.max(...group.map((r) => r.used)) });
  }
  return out;
}

export function summarisePacked(batches: PackedMicroBatch[]): ScheduleSummary {
  let tokens = 0;
  let padded = 0;
  let samples = 0;
  let rows = 0;
  let longest = 0;
  for (const b of batches) {
    for (const r of b.rows) {
      tokens += r.used;
      samples += r.segments.length;
    }
    rows += b.rows.length;
    padded += b.rows.length * b.paddedLength;
    longest = Math.max(longest, b.paddedLength);
  }
  return {
    microBatches: batches.length,
    samples,
    rows,
    tokens,
    paddedTokens: padded,
    paddingFraction: padded > 0 ? 1 - tokens / padded : 0,
    longestRow: longest,
  };
}

/** Per position: which segment it belongs to (-1 = padding); the runtime's block-diagonal causal mask. */
export function segmentIds(row: PackedRow, length: number): Int32Array {
  const out = new Int32Array(length).fill(-1);
  row.segments.forEach((s, k) => {
    out.fill(k, s.start, s.start + s.length);
  });
  return out;
}

/** Position ids restarting at 0 for every packed sequence (padding: 0). */
export function positionIds(row: PackedRow, length: number): Int32Array {
  const out = new Int32Array(length);
  for (const s of row.segments) for (let p = 0; p < s.length; p++) out[s.start + p] = p;
  return out;
}
