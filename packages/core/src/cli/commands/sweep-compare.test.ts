// The new commands in process: export with --set, sweep --export (one config per trial), compare, runs.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { runCommand } from "citty";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { parseYaml } from "../../export/yaml.ts";
import { metricsLines, quickstartPlan } from "../../report/testing.ts";
import { copyExamples } from "../../testing/example-copy.ts";
import { strict } from "../flags.ts";
import { compareCommand } from "./compare.ts";
import { exportCommand } from "./export.ts";
import { runsCommand } from "./runs.ts";
import { sweepCommand } from "./sweep.ts";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((s) => out.push(String(s)) > 0);
  vi.spyOn(process.stderr, "write").mockImplementation((s) => err.push(String(s)) > 0);
  return { out: () => out.join(""), err: () => err.join("") };
}

const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const temp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

describe("sft export --set and sft sweep --export", () => {
  it("export takes --set: the config has the overridden value", async () => {
    const copy = copyExamples("sft-export-set-");
    dirs.push(copy.root);
    const out = temp("sft-export-set-out-");
    capture();
    const rawArgs = [
      copy.recipe("quickstart"),
      "--target",
      "trl",
      "--out",
      out,
      "--set",
      "train.learningRate=2e-4",
    ];
    await runCommand(strict(exportCommand), { rawArgs });
    vi.restoreAllMocks();
    expect(process.exitCode ?? 0).toBe(0);
    expect(
      (parseYaml(readFileSync(join(out, "sft.yaml"), "utf8")) as Record<string, unknown>).learning_rate,
    ).toBe(2e-4);
  });

  it("sweep --export writes one config per trial, each with its own values", async () => {
    const copy = copyExamples("sft-sweep-export-");
    dirs.push(copy.root);
    const file = join(dirname(copy.recipe("quickstart")), "lr.ts");
    writeFileSync(
      file,
      `import { defineSweep } from "@sftkit/core";
import recipe from "./recipe.ts";
export default defineSweep(recipe, { axes: { "train.learningRate": [1e-4, 3e-4] } });
`,
    );
    const out = temp("sft-sweep-export-out-");
    const io = capture();
    await runCommand(strict(sweepCommand), { rawArgs: [file, "--export", "trl", "--out", out] });
    vi.restoreAllMocks();
    expect(io.err()).toBe("");
    expect(process.exitCode ?? 0).toBe(0);
    expect(io.out()).toContain("Wrote 2 trl configs");
    const lr = (folder: string) =>
      (parseYaml(readFileSync(join(out, folder, "sft.yaml"), "utf8")) as Record<string, unknown>)
        .learning_rate;
    expect(lr("01-train.learningRate=0.0001")).toBe(1e-4);
    expect(lr("02-train.learningRate=0.0003")).toBe(3e-4);
  });
});

describe("sft compare and sft runs", () => {
  it("compare prints the table and the best run, writes HTML and JSON; runs lists the folders", async () => {
    const plan = await quickstartPlan();
    const root = temp("sft-compare-cli-");
    const run = (name: string, lr: number, steps: number) => {
      const dir = join(root, name);
      mkdirSync(dir);
      writeFileSync(join(dir, "plan.json"), JSON.stringify({ ...plan, output: { ...plan.output, dir } }));
      writeFileSync(join(dir, "recipe.resolved.json"), JSON.stringify({ train: { learningRate: lr } }));
      writeFileSync(join(dir, "metrics.jsonl"), metricsLines(steps, 2));
      return dir;
    };
    const a = run("a", 1e-4, 4);
    const b = run("b", 3e-4, 6);
    let io = capture();
    await runCommand(strict(compareCommand, { variadic: true }), {
      rawArgs: [a, b, "--metric", "train-loss", "--report", join(root, "cmp.html")],
    });
    vi.restoreAllMocks();
    expect(process.exitCode ?? 0).toBe(0);
    expect(io.out()).toMatch(/^run\s+status\s+train\.learningRate/);
    expect(io.out()).toContain("best by train loss: b");
    expect(readFileSync(join(root, "cmp.html"), "utf8")).toContain("<h1>Run comparison</h1>");

    io = capture();
    await runCommand(strict(compareCommand, { variadic: true }), { rawArgs: [a, root, "--metric", "speed"] });
    vi.restoreAllMocks();
    expect(process.exitCode).toBe(1);
    expect(io.err()).toContain('unknown --metric "speed"');
    process.exitCode = undefined;

    io = capture();
    await runCommand(strict(compareCommand, { variadic: true }), { rawArgs: [a, root] });
    vi.restoreAllMocks();
    expect(process.exitCode).toBe(1);
    expect(io.err()).toContain(`sft compare: ${root} is not a run folder`);
    process.exitCode = undefined;

    io = capture();
    await runCommand(strict(runsCommand), { rawArgs: [root, "--json"] });
    vi.restoreAllMocks();
    const listed = JSON.parse(io.out()) as { dir: string; status: string; steps: number }[];
    expect(listed.map((r) => [r.dir, r.status, r.steps])).toEqual([
      [a, "interrupted", 4],
      [b, "interrupted", 6],
    ]);
  });
});
