// Internal consistency: the same normalised instruction (and input, and system prompt) answered differently.
import { FindingBuilder, whereOf } from "./refs.ts";
import { normalise, words } from "./text.ts";
import type { Finding, QualityRow } from "./types.ts";

/** Answers whose word sets overlap this much are rewordings, not a conflict. */
const SAME_ANSWER = 0.8;

/** Per source; with `source: null`, over the mix, keeping only groups that span sources. */
export function consistencyFindings(
  source: string | null,
  rows: readonly QualityRow[],
  baseDir: string,
): Finding[] {
  const groups = new Map<string, QualityRow[]>();
  for (const r of rows) {
    if (r.kind !== "chat" || r.prompt.trim() === "") continue;
    const key = `${normalise(r.system)}\u0000${normalise(r.prompt)}`;
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  const b = new FindingBuilder(baseDir, {
    id: source === null ? "consistency/cross-conflict" : "consistency/conflict",
    category: "consistency",
    title:
      source === null
        ? "Same instruction, conflicting answers in different sources"
        : "Same instruction, conflicting answers",
    severity: "warning",
    source,
    filter: {
      name: "where",
      active: false,
      setting: "pick one answer per instruction, or drop the group with filters: { where }",
    },
  });
  let measured = 0;
  for (const g of groups.values()) {
    measured += g.length;
    if (g.length < 2) continue;
    if (source === null && g.every((r) => r.source === g[0]!.source)) continue;
    const answers = new Map<string, QualityRow>();
    for (const r of g) if (!answers.has(normalise(r.answer))) answers.set(normalise(r.answer), r);
    if (answers.size < 2 || !conflicting([...answers.keys()])) continue;
    const first = g[0]!;
    for (const r of g)
      b.add(
        r,
        r === first
          ? `${g.length} rows, ${answers.size} answers`
          : `conflicts with ${whereOf(first, baseDir)}`,
      );
  }
  const f = b.build(measured);
  return f ? [f] : [];
}

/** Compares the first few distinct answers only: a group of thousands stays cheap. */
function conflicting(answers: string[]): boolean {
  const sets = answers.slice(0, 20).map((a) => new Set(words(a)));
  for (let i = 0; i < sets.length; i++) {
    for (let j = i + 1; j < sets.length; j++) {
      if (jaccard(sets[i]!, sets[j]!) < SAME_ANSWER) return true;
    }
  }
  return false;
}

function jaccard(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let inter = 0;
  for (const w of a) if (b.has(w)) inter++;
  return inter / (a.size + b.size - inter);
}
