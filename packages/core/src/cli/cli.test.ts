// The `sft` bin as a user runs it: exit codes, streams, JSON output.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PlanSchema } from "../compile/plan-schema.ts";
import { copyExamples } from "../testing/example-copy.ts";

const repo = join(import.meta.dirname, "../../../..");
const bin = join(repo, "packages/core/bin/sft.js");
// Training runs use one wasm thread: on a model this small, threads cost more than they give.
const sft = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], {
    cwd: repo,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", SFTKIT_THREADS: "1" },
  });

/**
 * The examples copied to a temporary folder (see copyExamples): `sft plan` and `sft run` write the recipe's
 * output folder, which must be neither the user's own out/quickstart nor another test's.
 */
const copies: string[] = [];
afterAll(() => {
  for (const dir of copies) rmSync(dir, { recursive: true, force: true });
});

function quickstartCopy(): { recipe: string; out: string } {
  const copy = copyExamples("sft-cli-");
  copies.push(copy.root);
  return { recipe: copy.recipe("quickstart"), out: copy.out("quickstart") };
}

describe("sft CLI", () => {
  it("plan --json prints a plan that validates against its schema", () => {
    const r = sft("plan", quickstartCopy().recipe, "--json");
    expect(r.status).toBe(0);
    const plan = PlanSchema.parse(JSON.parse(r.stdout));
    expect(plan.recipe.name).toBe("quickstart");
  });

  it("plan prints a readable summary with units", () => {
    const r = sft("plan", quickstartCopy().recipe);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Model\s+llama · 5 layers/);
    // The device is the chosen engine's: the wasm heap (4.00 GiB) or the machine's memory (native).
    expect(r.stdout).toMatch(
      /peak [\d.]+ MiB \(estimated for the (whole process|wasm heap)[^)]*\) of [\d.]+ GiB/,
    );
    expect(r.stdout).toMatch(/trainable [\d.]+K \([\d.]+%\)/);
  });

  it("plan exits 1 and prints every located diagnostic on stderr", () => {
    const r = sft("plan", "packages/core/src/recipe/fixtures/bad/many-errors.ts");
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(
      "packages/core/src/recipe/fixtures/bad/many-errors.ts:12:33 error method.rank",
    );
    expect(r.stderr).toContain("8 errors");
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+\)/); // no stack trace
  });

  it("plan --set: values typed by the schema, a bad one located at its argument, every problem at once", () => {
    const { recipe, out } = quickstartCopy();
    const ok = sft(
      "plan",
      recipe,
      "--no-data",
      "--json",
      "--set",
      "train.learningRate=2e-4",
      "--set=method.rank=16",
    );
    expect(ok.status).toBe(0);
    const plan = PlanSchema.parse(JSON.parse(ok.stdout));
    expect(plan.recipe.overrides).toEqual([
      { path: "train.learningRate", value: 2e-4 },
      { path: "method.rank", value: 16 },
    ]);
    expect(plan.output.dir).toBe(`${out}+method.rank=16,train.learningRate=0.0002`);
    const summary = sft("plan", recipe, "--no-data", "--set", "train.schedule=linear");
    expect(summary.stdout).toMatch(/^Overrides train\.schedule="linear"$/m);
    expect(summary.stdout).toContain(`${relative(repo, out)}+train.schedule=linear`);
    const bad = sft(
      "plan",
      recipe,
      "--no-data",
      "--set",
      "train.learningRate=abc",
      "--set",
      "trian.epochs=2",
    );
    expect(bad.status).toBe(1);
    // Arguments are numbered after the command: recipe (1), --no-data (2), --set (3), its value (4).
    expect(bad.stderr).toContain(
      '--set train.learningRate=abc (argument 4) error train.learningRate: expected number, got "abc"',
    );
    expect(bad.stderr).toMatch(/in the recipe at .*quickstart\/recipe\.ts:40:19:/);
    expect(bad.stderr).toContain("--set trian.epochs=2 (argument 6) error trian.epochs");
    expect(bad.stderr).toContain("hint: did you mean `train.epochs`?");
    expect(bad.stderr).toContain("2 errors");
  });

  it("data --inspect marks trained spans with brackets off a terminal", () => {
    const r = sft("data", "examples/quickstart/recipe.ts", "--inspect", "2");
    expect(r.status).toBe(0);
    // Samples are picked round-robin over the sources: the chat data, then the knowledge probes.
    expect(r.stdout).toContain("── sample 1/2 · chat · data/chat.jsonl:1");
    expect(r.stdout).toMatch(/── sample 2\/2 · probes · .*probes-\w+\.jsonl:1/);
    // The answer and its end-of-turn token are trained; the prompt is not.
    expect(r.stdout).toMatch(/<\|assistant\|>\[\[[^\]]+<\|end\|>\]\]/);
    expect(r.stdout).not.toMatch(/\[\[<s>/);
  });

  it("data --json gives ids and labels, -100 where masked, the end-of-turn token trained", () => {
    const r = sft("data", "examples/quickstart/recipe.ts", "--inspect", "3", "--json");
    expect(r.status).toBe(0);
    const samples = JSON.parse(r.stdout) as {
      source: string;
      input_ids: number[];
      labels: number[];
      text: string;
    }[];
    expect(samples).toHaveLength(3);
    for (const s of samples) {
      expect(s.labels).toHaveLength(s.input_ids.length);
      expect(s.labels[0]).toBe(-100);
      expect(s.input_ids.at(-1)).toBe(514); // <|end|>
      expect(s.labels.at(-1)).toBe(514);
      expect(s.labels.every((l, i) => l === -100 || l === s.input_ids[i])).toBe(true);
    }
  });

  it("run trains: prints the plan, then writes metrics, a checkpoint and the adapter", () => {
    const { recipe, out } = quickstartCopy();
    const r = sft("run", recipe, "--max-steps", "2");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("Plan quickstart");
    expect(r.stdout).toContain("Trained 2 steps");
    const steps = readFileSync(join(out, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { step: number; loss?: number })
      .filter((l) => l.loss !== undefined);
    expect(steps.map((l) => l.step)).toEqual([1, 2]);
    expect(existsSync(join(out, "checkpoints/step-2/state.json"))).toBe(true);
    expect(existsSync(join(out, "adapter/adapter_model.safetensors"))).toBe(true);
  });

  it("run: Ctrl-C writes a checkpoint and exits 130; --resume continues from it", async () => {
    const { recipe } = quickstartCopy();
    const child = spawn(process.execPath, [bin, "run", recipe, "--max-steps", "30"], {
      cwd: repo,
      env: { ...process.env, NO_COLOR: "1", SFTKIT_THREADS: "1" },
    });
    let stdout = "";
    let sent = false;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      // Once: a second Ctrl-C quits without a checkpoint.
      if (!sent && /^step 1\//m.test(stdout)) sent = child.kill("SIGINT");
    });
    const code = await new Promise<number | null>((res) => child.on("close", res));
    expect(code).toBe(130);
    expect(stdout).toMatch(/Interrupted \d+ steps/);
    const step = Number(/checkpoint: .*step-(\d+)/.exec(stdout)?.[1]);
    expect(step).toBeGreaterThan(0);
    expect(step).toBeLessThan(30);
    const r = sft("run", recipe, "--resume", "--max-steps", String(step + 1));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`resuming from`);
    expect(r.stdout).toContain(`Trained ${step + 1} steps`);
  });

  it("run: a bad --max-steps is one line, not a stack trace", () => {
    const r = sft("run", "examples/quickstart/recipe.ts", "--max-steps", "two");
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('sft run: --max-steps must be a positive integer, got "two"');
  });

  it("doctor reports the backends that load", () => {
    const r = sft("doctor", "--json");
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { backends: Record<string, { ok: boolean }> };
    expect(report.backends.wasm?.ok || report.backends.cpu?.ok).toBe(true);
  });

  it("doctor lists every engine with its availability and reason, text and JSON", () => {
    const r = sft("doctor", "--json");
    const report = JSON.parse(r.stdout) as {
      engines: { name: string; available: boolean; reason: string }[];
    };
    expect(report.engines.find((e) => e.name === "tfjs")).toMatchObject({ available: true });
    for (const e of report.engines) expect(e.reason).not.toBe("");
    const text = sft("doctor").stdout;
    expect(text).toMatch(/Engines[^\n]*\n(?:[^\n]*\n)*?\s+tfjs\s+available\s+ships with @sftkit\/core/);
  });

  it("a recipe run directly with tsx does what `sft run` does", () => {
    const r = spawnSync(
      process.execPath,
      [join(repo, "node_modules/tsx/dist/cli.mjs"), quickstartCopy().recipe, "--max-steps", "1"],
      {
        cwd: repo,
        encoding: "utf8",
        env: { ...process.env, NO_COLOR: "1", SFTKIT_THREADS: "1" },
      },
    );
    expect(r.stdout).toContain("Plan quickstart");
    expect(r.stdout).toContain("Trained 1 step (");
  });
});
