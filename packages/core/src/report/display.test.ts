import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { decideBackend } from "../compile/backend-choice.ts";
import type { Plan } from "../compile/plan-schema.ts";
import { PlanSchema } from "../compile/plan-schema.ts";
import { buildQualityReport } from "../data/quality/report.ts";
import { SourceSchema } from "../recipe/schema/data.ts";
import type { RunResult } from "../train/loop.ts";
import { JUPYTER_DISPLAY, type MimeBundle } from "./display.ts";
import { displayable } from "./display-plan.ts";
import { displayQualityReport, scopeCss } from "./display-quality.ts";
import { displayRunResult, type RunResultLike } from "./display-run.ts";
import { metricsLines, quickstartPlan, quickstartRecipe } from "./testing.ts";

let plan: Plan;
let dir: string;
beforeAll(async () => {
  plan = await quickstartPlan();
  dir = mkdtempSync(join(tmpdir(), "sft-display-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mimeKeys = (b: MimeBundle) => Object.keys(b).sort();

describe("displayable(plan)", () => {
  it("leaves the plan's JSON, keys and schema round-trip unchanged", () => {
    const json = JSON.stringify(plan);
    const keys = Object.keys(plan);
    const shown = displayable(plan);
    expect(shown).toBe(plan);
    expect(JSON.stringify(shown)).toBe(json);
    expect(Object.keys(shown)).toEqual(keys);
    expect(PlanSchema.parse(shown)).toEqual(JSON.parse(json));
    expect(PlanSchema.parse(JSON.parse(JSON.stringify(shown)))).toEqual(shown);
    expect(structuredClone(shown)).toEqual(JSON.parse(json));
  });

  it("displays as HTML tables in Jupyter, and as the plan summary in a console", () => {
    const shown = displayable(plan);
    const bundle = shown[JUPYTER_DISPLAY]() as MimeBundle;
    expect(mimeKeys(bundle)).toEqual(["text/html", "text/plain"]);
    expect(bundle["text/html"]).toContain("<table");
    expect(bundle["text/html"]).toContain("<h3>Model</h3>");
    expect(bundle["text/html"]).not.toMatch(/<script/i);
    expect(bundle["text/plain"]).toContain("Plan quickstart");
    expect(inspect(shown)).toBe(bundle["text/plain"]);
    expect(`${shown}`).toBe(bundle["text/plain"]);
    // Deno's kernel looks the method up by the registered symbol.
    expect(typeof (shown as unknown as Record<symbol, unknown>)[Symbol.for("Jupyter.display")]).toBe(
      "function",
    );
  });
});

describe("what the displays say ran", () => {
  it("the plan display gives the evaluation interval the loop uses: each epoch unless set", () => {
    const html = (p: Plan) => (displayable(p)[JUPYTER_DISPLAY]() as MimeBundle)["text/html"] as string;
    const perEpoch = plan.optimizer.stepsPerEpoch!;
    expect(plan.eval.every).toBeNull();
    expect(html(plan)).toContain(`each epoch (${perEpoch} steps)`);
    expect(html(plan)).not.toContain("end only");
    expect(html({ ...plan, eval: { ...plan.eval, every: 5 } })).toContain("5 steps");
  });

  it("the plan's thread count is the one the engines start with ($SFTKIT_THREADS, as a notebook sets)", () => {
    expect(decideBackend("auto", undefined, { SFTKIT_THREADS: "1" }).threads).toBe(1);
    expect(decideBackend("auto", 3, { SFTKIT_THREADS: "1" }).threads).toBe(1);
    expect(decideBackend("auto", 3, {}).threads).toBe(3);
  });

  it("the run display shows probe recall", async () => {
    const bundle = await displayRunResult({ steps: 2, probeRecall: 0.625 })[JUPYTER_DISPLAY]();
    expect(bundle["text/plain"]).toMatch(/probe recall\s+63%/);
    expect(bundle["text/html"]).toContain("probe recall");
  });

  it("the run display gives the engine's own peak (wasm heap, GPU buffers) beside the process's", async () => {
    const bundle = await displayRunResult({
      steps: 2,
      peakRssBytes: 519 * 2 ** 20,
      enginePeakBytes: 112 * 2 ** 20,
    })[JUPYTER_DISPLAY]();
    expect(bundle["text/plain"]).toMatch(/peak memory\s+519 MiB/);
    expect(bundle["text/plain"]).toMatch(/engine peak\s+112 MiB \(the engine's own memory at its largest/);
    const without = await displayRunResult({ steps: 2, peakRssBytes: 519 * 2 ** 20 })[JUPYTER_DISPLAY]();
    expect(without["text/plain"]).not.toContain("engine peak");
  });
});

describe("displayRunResult", () => {
  it("accepts the training loop's RunResult", () => {
    expectTypeOf<RunResult>().toExtend<RunResultLike>();
  });

  it("shows the result's numbers and the loss curve from its metrics file", async () => {
    const out = join(dir, "run");
    const metricsFile = join(out, "metrics.jsonl");
    await import("node:fs/promises").then((fs) => fs.mkdir(dirname(metricsFile), { recursive: true }));
    writeFileSync(metricsFile, metricsLines(12, 4));
    writeFileSync(join(out, "plan.json"), JSON.stringify(plan));
    const result = {
      steps: 12,
      loss: 1.76,
      initialEvalLoss: 3.2,
      evalLoss: 2.37,
      tokens: 11_400,
      seconds: 14.2,
      tokensPerSecond: 802.8,
      interrupted: false,
      outputDir: out,
      metricsFile,
      artefacts: [join(out, "adapter")],
      samples: [{ prompt: "<|user|>Hi", completion: "Hello <there>" }],
    };
    const shown = displayRunResult(result);
    expect(JSON.stringify(shown)).toBe(JSON.stringify(result));
    const bundle = await shown[JUPYTER_DISPLAY]();
    expect(mimeKeys(bundle)).toEqual(["text/html", "text/plain"]);
    const html = bundle["text/html"];
    expect(html).toContain("<table");
    expect(html).toContain("<svg");
    expect(html).toContain("mark-line");
    expect(html).toContain("eval loss");
    expect(html).toContain("Hello &lt;there&gt;");
    expect(html).toContain("<summary>Plan</summary>");
    expect(bundle["text/plain"]).toMatch(/steps\s+12/);
    expect(inspect(shown)).toContain("3.2 → 2.37");
  });

  it("works on a bare object naming a run folder with a partial metrics file", async () => {
    const out = join(dir, "partial");
    await import("node:fs/promises").then((fs) => fs.mkdir(out, { recursive: true }));
    writeFileSync(join(out, "metrics.jsonl"), `${metricsLines(2)}{"step":3,`);
    const bundle = await displayRunResult({ outputDir: out })[JUPYTER_DISPLAY]();
    expect(bundle["text/html"]).toContain("<svg");
    expect(bundle["text/html"]).toContain("train loss");
  });
});

describe("displayQualityReport", () => {
  it("shows the report's body with its styles scoped to the cell", async () => {
    const report = await buildQualityReport({
      recipe: "quickstart",
      baseDir: dirname(quickstartRecipe),
      seed: 0,
      sources: { chat: SourceSchema.parse({ path: "data/chat.jsonl", format: "messages" }) },
    });
    const json = JSON.stringify(report);
    const shown = displayQualityReport(report);
    expect(JSON.stringify(shown)).toBe(json);
    const bundle = (await shown[JUPYTER_DISPLAY]()) as MimeBundle;
    expect(mimeKeys(bundle)).toEqual(["text/html", "text/plain"]);
    expect(bundle["text/html"]).toContain("<table");
    expect(bundle["text/html"]).not.toMatch(/<html|<body|<head/);
    expect(bundle["text/html"]).not.toMatch(/(^|[}>])\s*body\s*\{/);
    expect(bundle["text/plain"]).toMatch(/^Data quality: quickstart — \d+ findings/);
    expect(bundle["text/plain"]).toContain("chat: 300 rows");
    expect(inspect(shown)).toBe(bundle["text/plain"]);
  });

  it("scopeCss prefixes every selector", () => {
    expect(scopeCss("body{margin:0}h1,td.n{color:red}")).toBe(
      ".sftkit-quality{margin:0}.sftkit-quality h1,.sftkit-quality td.n{color:red}",
    );
  });
});
