// Plain data of the quality report: the rows it looks at and what it finds.
import type { Message } from "../types.ts";

/** One row as the detectors see it. */
export interface QualityRow {
  /** Position across all sources: the id findings list. */
  id: number;
  source: string;
  /** Absolute file; 1-based line for JSONL/CSV, else the 0-based row index. */
  file: string;
  line?: number;
  index: number;
  kind: "chat" | "text";
  /** User turns (instruction and input). */
  prompt: string;
  system: string;
  /** All trained answer text, and the last trained answer alone. */
  answer: string;
  lastAnswer: string;
  /** Whole sample text (what duplicates compare). */
  text: string;
  turns: number;
  messages?: Message[];
  /** The row's own task/category field, when it has one. */
  task?: string;
}

export type Category = "diversity" | "duplicates" | "completeness" | "concision" | "consistency" | "balance";

/** What in the recipe acts on a finding. */
export interface FilterRef {
  /** A `filters` key, or `weight`/`overLength` for mix-level findings. */
  name:
    | "dedupe"
    | "dropEmpty"
    | "dropTruncated"
    | "minLength"
    | "maxLength"
    | "language"
    | "dropRefusals"
    | "where"
    | "weight"
    | "overLength";
  /** The recipe already sets it so that it acts on these rows. */
  active: boolean;
  /** What to write, e.g. `filters: { dropRefusals: true }`. */
  setting: string;
}

export interface RowRef {
  source: string;
  /** `file:line`, or `file#row N` (0-based) for JSON arrays and Parquet. */
  where: string;
  snippet: string;
  /** Context: the row it duplicates, the detected languages, ... */
  note?: string;
}

export interface Finding {
  id: string;
  category: Category;
  title: string;
  severity: "info" | "warning" | "error";
  /** Source name, or null for a finding over the mix. */
  source: string | null;
  count: number;
  /** Rows it was measured over. */
  total: number;
  filter: FilterRef;
  examples: RowRef[];
  /** Every flagged row id (not in the JSON output). */
  ids: number[];
}

export interface Histogram {
  /** Bucket labels and counts. */
  labels: string[];
  counts: number[];
}

export interface Share {
  name: string;
  count: number;
  share: number;
}

export interface Diversity {
  distinct: { prompt1: number; prompt2: number; answer1: number; answer2: number };
  leadingWords: Share[];
  /** Normalised entropy of the leading words, 0 (one word) to 1 (even spread). */
  leadingEntropy: number;
  clusters: { terms: string[]; size: number; share: number; examples: RowRef[] }[];
}

export interface Concision {
  answerChars: { p5: number; p50: number; p95: number; p99: number; max: number };
  histogram: Histogram;
  ratio: { median: number; low: number; high: number };
}

export interface Balance {
  /** "task field `category`" or "heuristic category". */
  taskBy: string;
  tasks: Share[];
  difficulty: Share[];
  turns: Share[];
}

export interface SourceQuality {
  name: string;
  rows: number;
  analysed: number;
  /** Rows that could not be read or converted (see `sft plan` for them). */
  skipped: number;
  /** File-level failures and the first skipped rows. */
  errors: string[];
  /** The recipe's filters for this source (a `where` function shown as "(function)"). */
  filters: Record<string, unknown>;
  diversity: Diversity;
  concision: Concision;
  balance: Balance;
  findings: Finding[];
}

export interface MixQuality {
  /** Per source: rows kept for training, samples per epoch, target and realised share. */
  sources: {
    name: string;
    trainRows: number;
    evalRows: number;
    target: number;
    realised: number;
    weight: number;
  }[];
  samples: number;
  balance: Balance;
  diversity: Diversity;
  findings: Finding[];
}

export interface QualityReport {
  version: 1;
  recipe: string;
  nearThreshold: number;
  sources: SourceQuality[];
  mix: MixQuality | null;
  findings: Finding[];
}
