// Balance and difficulty: shares by task (the row's own field, else a heuristic category), by a
// length/turn-count difficulty proxy, and by turn count; optionally weighted (the realised mix repeats rows).
import { heuristicCategory } from "./intent.ts";
import { FindingBuilder } from "./refs.ts";
import { bump, shares } from "./stats.ts";
import { words } from "./text.ts";
import type { Balance, Finding, QualityRow } from "./types.ts";

/** A task above this share (with 3+ tasks and 50+ rows) is reported as dominant. */
const DOMINANT = 0.6;

export function difficulty(r: QualityRow): "easy" | "medium" | "hard" {
  const n = words(r.prompt).length + words(r.answer).length;
  const level = (n < 60 ? 0 : n < 300 ? 1 : 2) + (r.turns >= 3 ? 1 : 0);
  return level === 0 ? "easy" : level === 1 ? "medium" : "hard";
}

/** The task field is used when most rows have one. */
function taskKey(rows: readonly QualityRow[]): (r: QualityRow) => string {
  const withTask = rows.filter((r) => r.task !== undefined).length;
  if (rows.length > 0 && withTask >= 0.9 * rows.length) return (r) => r.task ?? "(none)";
  return (r) => heuristicCategory(r.prompt);
}

export function balance(
  source: string | null,
  rows: readonly QualityRow[],
  baseDir: string,
  weights?: ReadonlyMap<number, number>,
): { stats: Balance; findings: Finding[] } {
  const byTask = taskKey(rows);
  const usesField = rows.length > 0 && rows.filter((r) => r.task !== undefined).length >= 0.9 * rows.length;
  const tasks = new Map<string, number>();
  const diff = new Map<string, number>();
  const turns = new Map<string, number>();
  const taskOf = new Map<number, string>();
  for (const r of rows) {
    const w = weights ? (weights.get(r.id) ?? 0) : 1;
    if (w === 0) continue;
    const t = byTask(r);
    taskOf.set(r.id, t);
    bump(tasks, t, w);
    bump(diff, difficulty(r), w);
    bump(turns, r.turns >= 4 ? "4+" : String(r.turns), w);
  }
  const stats: Balance = {
    taskBy: usesField ? "the rows' task field" : "heuristic category of the instruction",
    tasks: shares(tasks),
    difficulty: (["easy", "medium", "hard"] as const)
      .map((name) => ({ name, count: diff.get(name) ?? 0, share: (diff.get(name) ?? 0) / (sum(diff) || 1) }))
      .filter((s) => s.count > 0),
    turns: shares(turns),
  };
  const findings: Finding[] = [];
  const top = stats.tasks[0];
  const total = sum(tasks);
  if (top && top.name !== "other" && tasks.size >= 3 && total >= 50 && top.share > DOMINANT) {
    const b = new FindingBuilder(baseDir, {
      id: "balance/task",
      category: "balance",
      title: `Task "${top.name}" is ${Math.round(top.share * 100)}% of the ${source === null ? "mix" : "source"}`,
      severity: "info",
      source,
      filter: {
        name: source === null ? "weight" : "where",
        active: false,
        setting:
          source === null
            ? "raise the weight of sources with other tasks (data.sources.<name>.weight)"
            : "thin it with filters: { where }, or add data for the other tasks",
      },
    });
    for (const r of rows) if (taskOf.get(r.id) === top.name) b.add(r);
    const f = b.build(rows.length);
    if (f) findings.push(f);
  }
  return { stats, findings };
}

function sum(m: Map<string, number>): number {
  let t = 0;
  for (const v of m.values()) t += v;
  return t;
}
