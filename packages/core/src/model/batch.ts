// Token batch layout: rows of equal length with segment ids (0 = padding) for padding and packing.

export interface TokenBatch {
  batch: number;
  seqLen: number;
  /** [batch * seqLen] token ids, row-major. */
  ids: Int32Array;
  /**
   * [batch * seqLen] segment id per token; 0 = padding. A token attends causally to earlier tokens
   * of the same segment in its row (block-diagonal causal mask for packed rows). Default: all 1.
   */
  segments?: Int32Array;
  /** [batch * seqLen] RoPE positions. Default: index within the token's segment (restarts per sequence). */
  positions?: Int32Array;
}

/** Right-pads rows of different lengths into a batch (padding: segment 0, id `padId`). */
export function padRows(rows: readonly (readonly number[])[], padId = 0): TokenBatch {
  const batch = rows.length;
  const seqLen = Math.max(1, ...rows.map((r) => r.length));
  const ids = new Int32Array(batch * seqLen).fill(padId);
  const segments = new Int32Array(batch * seqLen);
  rows.forEach((r, b) => {
    for (let i = 0; i < r.length; i++) {
      ids[b * seqLen + i] = r[i]!;
      segments[b * seqLen + i] = 1;
    }
  });
  return { batch, seqLen, ids, segments };
}

/** Packs several sequences into one row each (list of sequences per row), segments numbered from 1. */
export function packRows(rows: readonly (readonly (readonly number[])[])[], padId = 0): TokenBatch {
  const flat = rows.map((seqs) => seqs.flat());
  const out = padRows(flat, padId);
  rows.forEach((seqs, b) => {
    let at = b * out.seqLen;
    seqs.forEach((s, k) => {
      for (let i = 0; i < s.length; i++) out.segments![at++] = k + 1;
    });
  });
  return out;
}

/** Positions restarting at 0 for each new segment (contiguous segments) in each row. */
export function defaultPositions(b: TokenBatch, offset = 0): Int32Array {
  const pos = new Int32Array(b.batch * b.seqLen);
  for (let r = 0; r < b.batch; r++) {
    let prev = -1;
    let p = 0;
    for (let i = 0; i < b.seqLen; i++) {
      const k = r * b.seqLen + i;
      const seg = b.segments ? b.segments[k]! : 1;
      if (seg !== prev) p = 0;
      prev = seg;
      pos[k] = offset + p++;
    }
  }
  return pos;
}

const NEG = -1e9;

/**
 * Additive attention mask [batch, seqLen, prefixLen + pastLen + seqLen]: prefix and past columns are
 * visible to every non-padding token; the rest is causal within a segment. Padding queries see
 * only themselves, so no softmax row is all-masked. With a `window`, a query sees only the keys less than
 * `window` positions back (transformers' sliding_window_overlay: kv_idx > q_idx - window), counting a P-tuning
 * prefix as the first keys, as PEFT's prefix in the cache is: it falls out of the window too.
 */
export function attentionMask(
  b: TokenBatch,
  prefixLen = 0,
  pastLen = 0,
  window: number | null = null,
): Float32Array {
  const S = b.seqLen;
  const K = prefixLen + pastLen + S;
  const m = new Float32Array(b.batch * S * K).fill(NEG);
  for (let r = 0; r < b.batch; r++) {
    let start = 0;
    for (let q = 0; q < S; q++) {
      const base = (r * S + q) * K;
      const sq = b.segments ? b.segments[r * S + q]! : 1;
      if (sq === 0) {
        m[base + prefixLen + pastLen + q] = 0;
        continue;
      }
      // The query's place in its own sequence: a packed sequence starts again at 0.
      if (q > 0 && b.segments && b.segments[r * S + q - 1] !== sq) start = q;
      const first = window == null ? -Infinity : pastLen + (q - start) - window + 1;
      for (let k = Math.max(0, first + prefixLen); k < prefixLen; k++) m[base + k] = 0;
      for (let k = Math.max(0, first); k < pastLen; k++) m[base + prefixLen + k] = 0;
      for (let k = Math.max(0, start + first - pastLen); k <= q; k++) {
        const sk = b.segments ? b.segments[r * S + k]! : 1;
        if (sk === sq) m[base + prefixLen + pastLen + k] = 0;
      }
    }
  }
  return m;
}
