// Where Python with PyYAML is installed (the engines' own reader), the written YAML must read back the same there,
// and train.py must compile. Skipped elsewhere.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportRecipe } from "./export.ts";
import { recipeFor, writeData } from "./testing.ts";
import { parseYaml } from "./yaml.ts";

const python = spawnSync("python3", ["-c", "import yaml"], { encoding: "utf8" });
const hasPyYaml = python.status === 0;

let data: ReturnType<typeof writeData>;
beforeAll(() => {
  data = writeData();
});
afterAll(() => rmSync(data.dir, { recursive: true, force: true }));

describe.skipIf(!hasPyYaml)("exported files under Python", () => {
  it("PyYAML reads every YAML file as parseYaml does; train.py compiles", async () => {
    const trl = join(data.dir, "trl");
    const axolotl = join(data.dir, "axolotl");
    const over = { method: { kind: "qlora" as const }, train: { minLearningRateRatio: 0.05 } };
    expect((await exportRecipe(recipeFor(data, over), { target: "trl", out: trl })).ok).toBe(true);
    expect((await exportRecipe(recipeFor(data, over), { target: "axolotl", out: axolotl })).ok).toBe(true);
    const files = [
      join(trl, "sft.yaml"),
      join(trl, "model.yaml"),
      join(trl, "accelerate.yaml"),
      join(axolotl, "axolotl.yaml"),
    ];
    const r = spawnSync(
      "python3",
      [
        "-c",
        "import json, sys, yaml; print(json.dumps([yaml.safe_load(open(f)) for f in sys.argv[1:]]))",
        ...files,
      ],
      { encoding: "utf8" },
    );
    expect(r.status, r.stderr).toBe(0);
    const fromPython = JSON.parse(r.stdout) as unknown[];
    expect(fromPython).toEqual(files.map((f) => parseYaml(readFileSync(f, "utf8"))));
    const compiled = spawnSync("python3", ["-m", "py_compile", join(trl, "train.py")], { encoding: "utf8" });
    expect(compiled.status, compiled.stderr).toBe(0);
  });
});
