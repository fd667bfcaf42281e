// Readable view of labels: the decoded text of each run of trained tokens (for tests and `sft data --inspect`).
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { IGNORE_INDEX } from "../types.ts";

export function trainedRuns(tokenizer: Tokenizer, labels: readonly number[]): string[] {
  const runs: string[] = [];
  let cur: number[] = [];
  for (const l of labels) {
    if (l !== IGNORE_INDEX) cur.push(l);
    else if (cur.length) {
      runs.push(tokenizer.decode(cur));
      cur = [];
    }
  }
  if (cur.length) runs.push(tokenizer.decode(cur));
  return runs;
}
