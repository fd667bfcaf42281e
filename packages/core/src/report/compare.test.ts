// `sft compare` and a sweep's report: the differing values, final numbers, the best run by a chosen metric,
// overlaid curves; the HTML is self-contained and snapshot-tested, the JSON too.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Plan } from "../compile/plan-schema.ts";
import type { RunStatus } from "../train/run-status.ts";
import { compareRuns, comparisonHtml, comparisonJson, comparisonText, displayComparison } from "./compare.ts";
import { JUPYTER_DISPLAY, type MimeBundle } from "./display.ts";
import { formatRuns, listRuns } from "./runs.ts";
import { metricsLines, quickstartPlan } from "./testing.ts";

let plan: Plan;
let root: string;
let a: string;
let b: string;
let c: string;

beforeAll(async () => {
  plan = await quickstartPlan();
  root = mkdtempSync(join(tmpdir(), "sft-compare-"));
  a = runDir("a", 1e-3, 8, metricsLines(6, 3), { wallSeconds: 61.5, peakRssBytes: 200 * 2 ** 20 });
  b = runDir("b", 3e-3, 8, metricsLines(8, 4), { wallSeconds: 80, peakRssBytes: 400 * 2 ** 20 });
  c = runDir("c", 3e-3, 16, metricsLines(3, 0), { status: "interrupted", wallSeconds: 10 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function status(over: Partial<RunStatus>): RunStatus {
  return {
    status: "finished",
    planHash: "h",
    startedAt: "2026-01-01T00:00:00.000Z",
    endedAt: "2026-01-01T00:01:00.000Z",
    wallSeconds: 60,
    steps: null,
    loss: null,
    evalLoss: null,
    probeRecall: null,
    tokensPerSecond: null,
    peakRssBytes: 300 * 2 ** 20,
    error: null,
    ...over,
  };
}

/** A run folder as a run leaves it: plan, resolved recipe, metrics, run.json. */
function runDir(
  name: string,
  lr: number,
  rank: number,
  metrics: string,
  run: Partial<RunStatus> | null,
): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const p = { ...plan, recipe: { ...plan.recipe, hash: `hash-${name}` }, output: { ...plan.output, dir } };
  writeFileSync(join(dir, "plan.json"), JSON.stringify(p));
  writeFileSync(
    join(dir, "recipe.resolved.json"),
    JSON.stringify({
      $overrides: [{ path: "train.learningRate", value: lr }],
      name: "quickstart",
      method: { kind: "lora", rank, alpha: 16 },
      train: { learningRate: lr, epochs: 1 },
      output: { dir },
    }),
  );
  writeFileSync(join(dir, "metrics.jsonl"), metrics);
  if (run) writeFileSync(join(dir, "run.json"), JSON.stringify(status(run)));
  return dir;
}

/** Same page wherever the temporary folder is. */
const portable = (s: string) => s.replaceAll(root, "<root>");

describe("compareRuns", () => {
  it("lists the values that differ and each run's final numbers, and names the best run by a metric", async () => {
    const cmp = compareRuns([a, b, c]);
    expect(cmp.differing).toEqual(["method.rank", "train.learningRate"]);
    expect(cmp.runs.map((r) => r.values)).toEqual([
      { "method.rank": "8", "train.learningRate": "0.001" },
      { "method.rank": "8", "train.learningRate": "0.003" },
      { "method.rank": "16", "train.learningRate": "0.003" },
    ]);
    expect(cmp.runs.map((r) => r.status)).toEqual(["finished", "finished", "interrupted"]);
    // metricsLines: eval loss 3.2 - ln(step)/3 at its last eval; train loss 3 - ln(step)/2 at the last step.
    expect(cmp.runs[0]!.finalEvalLoss).toBeCloseTo(3.2 - Math.log(6) / 3, 10);
    expect(cmp.runs[2]!.finalEvalLoss).toBeNull();
    expect(cmp.best).toBe("b");
    expect(compareRuns([a, b, c], "train-loss").best).toBe("b");
    expect(compareRuns([a, b, c], "peak-memory").best).toBe("a");
    expect(compareRuns([a, b, c], "wall-time").best).toBe("c");
    expect(compareRuns([a, c], "probe-recall").best).toBeNull();
    expect(comparisonText(cmp)).toContain("best by eval loss: b");
  });

  it("writes a self-contained page with the table and overlaid curves, and JSON (snapshots)", async () => {
    const cmp = compareRuns([a, b, c]);
    const html = await comparisonHtml(cmp, "Sweep: grid");
    expect(html).not.toMatch(/https?:/);
    expect(html).not.toMatch(/<script|<link\b|\bsrc=/i);
    expect(html).toContain("<th>train.learningRate</th>");
    expect(html).toContain("b (best)");
    expect(html.match(/<svg/g)).toHaveLength(2);
    expect(html).toContain("Train loss");
    expect(html).toContain("Eval loss");
    expect(portable(JSON.stringify(comparisonJson(cmp), null, 2))).toMatchSnapshot("comparison.json");
    expect(portable(html)).toMatchSnapshot("comparison.html");
  });

  it("shows itself in a notebook", async () => {
    const cmp = displayComparison(compareRuns([a, b]));
    const bundle = (await cmp[JUPYTER_DISPLAY]()) as MimeBundle;
    expect(bundle["text/html"]).toContain('<div class="sftkit">');
    expect(bundle["text/plain"]).toContain("best by eval loss: b");
  });
});

describe("listRuns", () => {
  it("finds every run folder under a root with its status, plan hash, steps and final metrics", () => {
    const killed = runDir("nested/killed", 1e-3, 8, metricsLines(2, 0), { status: "running" });
    writeFileSync(join(killed, ".sft-run.lock"), JSON.stringify({ pid: 2 ** 22 + 7, host: "elsewhere-not" }));
    runDir("nested/stale", 1e-3, 8, metricsLines(2, 0), { status: "running" });
    runDir("planned", 1e-3, 8, "", null);
    runDir("failed", 1e-3, 8, "", { status: "failed", error: "the disk is full" });
    const runs = listRuns(root);
    const by = Object.fromEntries(runs.map((r) => [r.dir.slice(root.length + 1), r]));
    expect(by.a).toMatchObject({
      status: "finished",
      planHash: "hash-a",
      steps: 6,
      totalSteps: plan.optimizer.schedule.totalSteps,
    });
    expect(by.c!.status).toBe("interrupted");
    // A lock held on another host counts as running; one left by a dead process here does not.
    expect(by["nested/killed"]!.status).toBe("running");
    expect(by["nested/stale"]!.status).toBe("interrupted");
    expect(by.planned!.status).toBe("planned");
    expect(by.failed).toMatchObject({ status: "failed", error: "the disk is full" });
    const text = formatRuns(runs, root);
    expect(text).toMatch(/^a\s+finished\s+hash-a\s+6\//m);
    expect(text).toContain("failed: the disk is full");
  });
});
