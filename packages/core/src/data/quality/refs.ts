// Row references in findings: `file:line` (or `file#row N`) relative to the recipe, with a short snippet.
import { relative } from "node:path";
import { snippet } from "./text.ts";
import type { Category, FilterRef, Finding, QualityRow, RowRef } from "./types.ts";

export const MAX_EXAMPLES = 5;

export function whereOf(row: QualityRow, baseDir: string): string {
  const file = relative(baseDir, row.file) || row.file;
  return row.line !== undefined ? `${file}:${row.line}` : `${file}#row ${row.index}`;
}

export function rowRef(row: QualityRow, baseDir: string, note?: string, text?: string): RowRef {
  const ref: RowRef = {
    source: row.source,
    where: whereOf(row, baseDir),
    snippet: snippet(text ?? (row.prompt ? `${row.prompt} → ${row.lastAnswer}` : row.text)),
  };
  if (note) ref.note = note;
  return ref;
}

/** Collects flagged rows for one finding; the first few (with notes) become its examples. */
export class FindingBuilder {
  readonly ids: number[] = [];
  readonly examples: RowRef[] = [];

  constructor(
    private readonly baseDir: string,
    readonly spec: {
      id: string;
      category: Category;
      title: string;
      severity: Finding["severity"];
      source: string | null;
      filter: FilterRef;
    },
  ) {}

  add(row: QualityRow, note?: string, text?: string): void {
    this.ids.push(row.id);
    if (this.examples.length < MAX_EXAMPLES) this.examples.push(rowRef(row, this.baseDir, note, text));
  }

  /** The finding, or null when no row was flagged. */
  build(total: number): Finding | null {
    if (this.ids.length === 0) return null;
    return { ...this.spec, count: this.ids.length, total, examples: this.examples, ids: this.ids };
  }
}
