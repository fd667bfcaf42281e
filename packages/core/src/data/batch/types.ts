// A batching schedule: which samples go together in each micro-batch, and the numbers the plan records.

/** Padded rows: one sample per row, every row padded to `paddedLength`. */
export interface PaddedMicroBatch {
  samples: number[];
  paddedLength: number;
}

/** One packed sequence of a row: `sample`'s tokens sit at [start, start + length). */
export interface Segment {
  sample: number;
  start: number;
  length: number;
}

/** Several whole samples in one row; attention is block-diagonal over segments, positions restart per segment. */
export interface PackedRow {
  segments: Segment[];
  used: number;
}

export interface PackedMicroBatch {
  rows: PackedRow[];
  paddedLength: number;
}

export interface ScheduleSummary {
  microBatches: number;
  samples: number;
  /** Rows of the micro-batches (one per sample unless packed). */
  rows: number;
  /** Real tokens, and tokens including padding. */
  tokens: number;
  paddedTokens: number;
  /** 1 - tokens / paddedTokens. */
  paddingFraction: number;
  longestRow: number;
}

export type BatchSchedule =
  | { kind: "padded"; microBatches: PaddedMicroBatch[]; summary: ScheduleSummary }
  | { kind: "packed"; microBatches: PackedMicroBatch[]; summary: ScheduleSummary };

export type BatchOptions =
  /** Length-bucketed: as many similar-length samples as fit rows × padded length ≤ budget. */
  | {
      mode: "bucket";
      tokensPerMicroBatch: number;
      padMultiple?: number;
      /** A micro-batch's fixed cost in tokens, traded against padding (default tokensPerMicroBatch / 64). */
      overheadTokens?: number;
      seed?: number;
      epoch?: number;
    }
  /** A fixed number of samples per micro-batch, grouped by length to limit padding. */
  | { mode: "fixed"; microBatchSize: number; padMultiple?: number; seed?: number; epoch?: number }
  /** Packing: rows of `maxLength` filled with whole samples; `rowsPerMicroBatch` rows each. */
  | { mode: "pack"; maxLength: number; rowsPerMicroBatch: number; seed?: number; epoch?: number };
