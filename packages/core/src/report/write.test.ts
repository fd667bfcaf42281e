import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Plan } from "../compile/plan-schema.ts";
import { metricsLines, quickstartPlan } from "./testing.ts";
import { writeRunReport } from "./write.ts";

const PNG = "89504e470d0a1a0a";
let plan: Plan;
const dirs: string[] = [];

function runDir(metrics: string | null, withPlan: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), "sft-report-"));
  dirs.push(dir);
  if (metrics !== null) writeFileSync(join(dir, "metrics.jsonl"), metrics);
  if (withPlan) writeFileSync(join(dir, "plan.json"), JSON.stringify(plan, null, 2));
  return dir;
}

/** Self-contained: no URL of any kind, no script, no external stylesheet or image. */
function expectSelfContained(html: string): void {
  expect(html).not.toMatch(/https?:/);
  expect(html).not.toMatch(/<script/i);
  expect(html).not.toMatch(/<link\b/i);
  expect(html).not.toMatch(/\bsrc=/i);
}

beforeAll(async () => {
  plan = await quickstartPlan();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("writeRunReport", () => {
  it("writes the charts as SVG and PNG and a self-contained report.html", async () => {
    const dir = runDir(metricsLines(20, 5, true), true);
    const { files, warnings } = await writeRunReport(dir);
    expect(warnings).toEqual([]);
    const names = files.map((f) => f.slice(dir.length + 1)).sort();
    expect(names).toEqual([
      "plots/learning-rate.png",
      "plots/learning-rate.svg",
      "plots/loss.png",
      "plots/loss.svg",
      "plots/throughput.png",
      "plots/throughput.svg",
      "report.html",
    ]);
    for (const f of files.filter((f) => f.endsWith(".png")))
      expect(readFileSync(f).subarray(0, 8).toString("hex")).toBe(PNG);
    expect(readFileSync(join(dir, "plots/loss.svg"), "utf8")).toContain("eval loss");

    const html = readFileSync(join(dir, "report.html"), "utf8");
    expectSelfContained(html);
    expect((html.match(/<svg\b/g) ?? []).length).toBe(3);
    expect(html).toContain("Run report: quickstart");
    // The plan's key facts, as tables.
    for (const fact of ["Model", "Method", "Parameters", "Data sources", "Batching and optimizer", "Memory"])
      expect(html).toContain(`<h3>${fact}</h3>`);
    expect(html).toContain("<td>lora</td>");
    expect(html).toContain("<td>chat</td>");
    // The sample is escaped, not injected.
    expect(html).toContain("&lt;|user|&gt;Hi &lt;b&gt;");
  });

  it("a run stopped after 2 steps with no eval lines still gets every file", async () => {
    const dir = runDir(`${metricsLines(2)}{"step":3,"loss":2.`, true);
    const { files, warnings } = await writeRunReport(dir);
    expect(warnings).toEqual([]);
    expect(files).toHaveLength(7);
    const html = readFileSync(join(dir, "report.html"), "utf8");
    expectSelfContained(html);
    expect(html).toContain("no evaluation yet");
    expect(html).toContain("<th>steps logged</th><td>2</td>");
    expect(readFileSync(join(dir, "plots/loss.svg"), "utf8")).not.toContain("eval loss");
  });

  it("a run with knowledge probes also gets the probe recall chart and figure", async () => {
    const probes = '{"step":5,"probeRecall":0.125}\n{"step":10,"probeRecall":0.6875}\n';
    const dir = runDir(metricsLines(10, 5) + probes, true);
    const { files } = await writeRunReport(dir);
    expect(files.map((f) => f.slice(dir.length + 1))).toContain("plots/probe-recall.png");
    expect(readFileSync(join(dir, "plots/probe-recall.svg"), "utf8")).toContain(">probe recall<");
    const html = readFileSync(join(dir, "report.html"), "utf8");
    expect(html).toContain("<th>probe recall</th><td>68.8% at step 10</td>");
    expect((html.match(/<svg\b/g) ?? []).length).toBe(4);
  });

  it("a folder without metrics or plan gets placeholders, not an error", async () => {
    const dir = runDir(null, false);
    const { files } = await writeRunReport(dir);
    expect(files).toHaveLength(7);
    expect(existsSync(join(dir, "report.html"))).toBe(true);
    const html = readFileSync(join(dir, "report.html"), "utf8");
    expect(html).toContain("no steps logged yet");
    expect(html).toContain("plan.json is missing or unreadable");
    expectSelfContained(html);
  });
});
