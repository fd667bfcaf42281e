// `--set path=value` over a recipe file: every kind of value, every error located at its argument with the
// recipe's own place as context, recorded in the plan, and written to its own output folder.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compileRecipe } from "../compile/compile.ts";
import { formatDiagnostics } from "./diagnostics.ts";
import { overridesSlug, setFlags } from "./overrides.ts";

const repo = join(import.meta.dirname, "../../../..");
const define = join(import.meta.dirname, "define.ts");

/** A recipe file in a temporary folder (so its output folder is there too). */
function recipeFile(): { file: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "sft-set-"));
  const file = join(dir, "recipe.ts");
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  writeFileSync(
    file,
    `import { defineRecipe } from ${JSON.stringify(define)};
export default defineRecipe({
  name: "base",
  model: { path: ${JSON.stringify(join(repo, "examples/models/stories260K"))} },
  template: "llama-2",
  data: {
    sources: {
      chat: { path: ${JSON.stringify(join(repo, "examples/quickstart/data/chat.jsonl"))}, format: "messages" },
    },
  },
  method: { kind: "lora", rank: 8 },
  train: {
    learningRate: 1e-3,
    maxLength: 64,
  },
});
`,
  );
  return { file, dir };
}

/** `--set` flags as a command line would give them (arguments numbered from 1 after the recipe). */
const sets = (...pairs: string[]) => setFlags(["recipe.ts", ...pairs.flatMap((p) => ["--set", p])]).sets;

describe("--set overrides", () => {
  it("sets a number, an enum, a boolean, a list, a source's field and a whole new source", async () => {
    const { file } = recipeFile();
    const extra = JSON.stringify({
      path: join(repo, "examples/quickstart/data/chat.jsonl"),
      format: "messages",
    });
    const result = await compileRecipe(file, {
      readData: false,
      sets: sets(
        "train.learningRate=2e-4",
        "train.schedule=linear",
        "train.gradientCheckpointing=true",
        "method.targets=q_proj,v_proj",
        "method.rank=16",
        "data.sources.chat.weight=2",
        `data.sources.extra=${extra}`,
      ),
    });
    expect(result.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const r = result.resolved!.recipe;
    expect(r.train.learningRate).toBe(2e-4);
    expect(r.train.schedule).toBe("linear");
    expect(r.train.gradientCheckpointing).toBe(true);
    expect(r.method).toMatchObject({ kind: "lora", rank: 16, targets: ["q_proj", "v_proj"] });
    expect(r.data.sources.chat!.weight).toBe(2);
    expect(r.data.sources.extra).toMatchObject({ format: "messages" });
    expect(result.plan!.recipe.overrides).toEqual([
      { path: "train.learningRate", value: 2e-4 },
      { path: "train.schedule", value: "linear" },
      { path: "train.gradientCheckpointing", value: true },
      { path: "method.targets", value: ["q_proj", "v_proj"] },
      { path: "method.rank", value: 16 },
      { path: "data.sources.chat.weight", value: 2 },
      { path: "data.sources.extra", value: JSON.parse(extra) },
    ]);
  });

  it("records the overrides in plan.json and recipe.resolved.json, in a folder of their own", async () => {
    const { file, dir } = recipeFile();
    const base = await compileRecipe(file, { readData: false });
    const over = await compileRecipe(file, { readData: false, sets: sets("train.learningRate=2e-4") });
    expect(base.plan!.output.dir).toBe(join(dir, "out/base"));
    expect(over.plan!.output.dir).toBe(join(dir, "out/base+train.learningRate=0.0002"));
    expect(over.plan!.recipe.hash).not.toBe(base.plan!.recipe.hash);
    const plan = JSON.parse(readFileSync(join(over.plan!.output.dir, "plan.json"), "utf8"));
    expect(plan.recipe.overrides).toEqual([{ path: "train.learningRate", value: 2e-4 }]);
    const resolved = JSON.parse(readFileSync(join(over.plan!.output.dir, "recipe.resolved.json"), "utf8"));
    expect(resolved.$overrides).toEqual([{ path: "train.learningRate", value: 2e-4 }]);
    expect(resolved.train.learningRate).toBe(2e-4);
    // The base run's files are its own.
    const basePlan = JSON.parse(readFileSync(join(dir, "out/base/plan.json"), "utf8"));
    expect(basePlan.recipe.overrides).toBeUndefined();
    // An explicit output.dir is used as is.
    const explicit = await compileRecipe(file, {
      readData: false,
      sets: sets("train.learningRate=2e-4", `output.dir=${join(dir, "mine")}`),
    });
    expect(explicit.plan!.output.dir).toBe(join(dir, "mine"));
    expect(existsSync(join(dir, "mine/plan.json"))).toBe(true);
  });

  it("reports every bad override at its argument, with the recipe's place as context", async () => {
    const { file } = recipeFile();
    const result = await compileRecipe(file, {
      readData: false,
      write: false,
      sets: sets(
        "train.learningRate=abc",
        "train.learningrate=1",
        "train.schedule=cosin",
        "data.sources.chta.weight=2",
        "method.rank=0",
      ),
    });
    expect(result.plan).toBeNull();
    const text = formatDiagnostics(result.diagnostics, { cwd: tmpdir() });
    const byOrigin = Object.fromEntries(result.diagnostics.map((d) => [d.override, d]));
    expect(Object.keys(byOrigin).sort()).toEqual([
      "--set data.sources.chta.weight=2 (argument 9)",
      "--set method.rank=0 (argument 11)",
      "--set train.learningRate=abc (argument 3)",
      "--set train.learningrate=1 (argument 5)",
      "--set train.schedule=cosin (argument 7)",
    ]);
    const lr = byOrigin["--set train.learningRate=abc (argument 3)"]!;
    expect(lr).toMatchObject({ code: "sft/invalid-type", path: ["train", "learningRate"] });
    expect(lr.location).toMatchObject({ file, line: 13, column: 19 });
    expect(byOrigin["--set train.learningrate=1 (argument 5)"]!.hint).toBe(
      "did you mean `train.learningRate`?",
    );
    expect(byOrigin["--set train.schedule=cosin (argument 7)"]!.hint).toBe('did you mean "cosine"?');
    expect(byOrigin["--set data.sources.chta.weight=2 (argument 9)"]!.hint).toBe(
      "did you mean `data.sources.chat.weight`?",
    );
    expect(byOrigin["--set method.rank=0 (argument 11)"]!.code).toBe("sft/out-of-range");
    expect(text).toContain(
      '--set train.learningRate=abc (argument 3) error train.learningRate: expected number, got "abc"',
    );
    expect(text).toMatch(/in the recipe at .*recipe\.ts:13:19:/);
    expect(text).toContain("5 errors");
  });

  it("refuses a --set that is not path=value, naming its argument", () => {
    expect(setFlags(["r.ts", "--set", "train.learningRate"]).problems).toEqual([
      '--set takes path=value (e.g. --set train.learningRate=2e-4), got "train.learningRate" (argument 3)',
    ]);
    expect(setFlags(["r.ts", "--set"]).problems[0]).toContain("got nothing (argument 3)");
    expect(setFlags(["r.ts", "--set=a.b=1=2"]).sets).toEqual([
      { path: "a.b", text: "1=2", index: 2, arg: "a.b=1=2" },
    ]);
  });

  it("names the output folder by the overrides, in any order, hashed when long", () => {
    const o = (path: string, value: unknown) => ({ path, value, origin: "" });
    expect(overridesSlug([o("method.rank", 16), o("train.learningRate", 1e-4)])).toBe(
      overridesSlug([o("train.learningRate", 1e-4), o("method.rank", 16)]),
    );
    expect(overridesSlug([o("data.sources.x", { path: "/a/b.jsonl" })])).toMatch(/^set-[0-9a-f]{10}$/);
  });
});
