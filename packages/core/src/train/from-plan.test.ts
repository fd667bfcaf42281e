import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { compileRecipe } from "../compile/compile.ts";
import { initBackend } from "../model/backend.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { repo, storiesDir, testRecipe } from "./fixtures.testing.ts";
import { readPlanFile, trainFromPlan } from "./from-plan.ts";
import { train } from "./loop.ts";
import { readStepMetrics } from "./metrics.ts";

beforeAll(async () => {
  await initBackend();
});

const quiet = { progress: "off", samples: 1, handleSigint: true } as const;

/** A recipe file in its own folder (its data cache lands there too), compiled with plan.json written. */
async function compiledFile(recipe: RecipeInput) {
  const dir = mkdtempSync(join(tmpdir(), "sft-from-plan-"));
  const file = join(dir, "recipe.ts");
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  writeFileSync(file, `export default ${JSON.stringify(recipe)};\n`);
  const compiled = await compileRecipe(file);
  expect(compiled.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  const plan = compiled.plan!;
  return { dir, file, compiled, plan, planFile: join(plan.output.dir, "plan.json") };
}

/** What a run's curve and answers are, for comparing two runs. */
function outcome(r: Awaited<ReturnType<typeof train>>) {
  const steps = readStepMetrics(r.metricsFile).map(({ seconds: _s, ...m }) => m);
  return {
    steps,
    initialEvalLoss: r.initialEvalLoss,
    evalLoss: r.evalLoss,
    probeRecall: r.probeRecall,
    samples: r.samples,
  };
}

describe("train from a plan alone", () => {
  it("trains plan.json with the recipe file deleted to the same losses, recall and samples", async () => {
    const recipe = testRecipe({ steps: 3, gradientAccumulation: 2 }, {
      tokens: { add: ["<|q|>"] },
      method: { kind: "lora", rank: 4, alpha: 8, dropout: 0.1, targets: "all-linear", trainNewTokens: true },
      probes: { count: 4, rate: 0.2 },
    } as Partial<RecipeInput>);
    const { file, compiled, plan, planFile } = await compiledFile(recipe);
    expect(plan.probes?.facts).toHaveLength(4);
    const fromRecipe = outcome(await train(plan, { ...quiet, compiled }));
    const adapter = readFileSync(join(plan.output.dir, "adapter", "adapter_model.safetensors"));

    rmSync(file);
    const r = await trainFromPlan(planFile, { ...quiet, overwrite: true });
    expect(r.steps).toBe(3);
    expect(outcome(r)).toEqual(fromRecipe);
    expect(r.probeRecall).not.toBeNull();
    expect(r.samples).toHaveLength(1);
    expect(readFileSync(join(plan.output.dir, "adapter", "adapter_model.safetensors"))).toEqual(adapter);
  });

  it("rebuilds a random-init model, an added EOS and the template from the plan (recipe moved away)", async () => {
    const recipe = {
      name: "random-init-plan",
      model: {
        architecture: {
          type: "llama",
          vocabSize: 512,
          hiddenSize: 32,
          intermediateSize: 64,
          numLayers: 1,
          numHeads: 4,
          numKvHeads: 2,
        },
      },
      tokenizer: storiesDir,
      template: "alpaca",
      tokens: { add: ["<|end|>"], eos: "<|end|>" },
      data: {
        sources: {
          s: { path: join(repo, "examples/random-init/data/alpaca.json"), format: "alpaca", eval: 4 },
        },
      },
      method: { kind: "full" },
      train: { steps: 2, learningRate: 1e-3, maxLength: 192, microBatchSize: 8 },
      acknowledge: ["sft/high-learning-rate"],
      output: { dir: mkdtempSync(join(tmpdir(), "sft-from-plan-out-")) },
    } as unknown as RecipeInput;
    const { dir, file, compiled, plan, planFile } = await compiledFile(recipe);
    expect(plan.tokenizer.eos?.text).toBe("<|end|>");
    const fromRecipe = outcome(await train(plan, { ...quiet, compiled }));
    rmSync(file);
    rmSync(join(dir, "package.json"));
    expect(outcome(await trainFromPlan(planFile, { ...quiet, overwrite: true }))).toEqual(fromRecipe);
  });

  it("names the missing cache entry, where the plan names it, and how to rebuild it", async () => {
    const { dir, file, planFile } = await compiledFile(testRecipe({ steps: 1 }));
    const entries = join(dir, ".sft-cache", "data");
    for (const f of readdirSync(entries)) rmSync(join(entries, f));
    const err = await trainFromPlan(planFile, quiet).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toContain(`${planFile}: data.cache.keys.chat: the data cache entry ${entries}/`);
    expect(message).toContain("of source `chat` is missing or damaged");
    expect(message).toContain(`compile the recipe again to rebuild it: sft plan ${file}`);
    // Nothing was started: no metrics were written.
    expect(existsSync(join(dirnameOf(planFile), "metrics.jsonl"))).toBe(false);
  });

  it("says what an older plan lacks, and refuses another plan version, naming the file", async () => {
    const { planFile } = await compiledFile(testRecipe({ steps: 1 }));
    const json = JSON.parse(readFileSync(planFile, "utf8"));
    delete json.data.cache.keys;
    delete json.template.text;
    writeFileSync(planFile, JSON.stringify(json));
    await expect(trainFromPlan(planFile, quiet)).rejects.toThrow(
      `${planFile} was made by an earlier sftkit and does not record data.cache.keys, template.text; compile the recipe again`,
    );
    writeFileSync(planFile, JSON.stringify({ ...json, version: 0 }));
    await expect(readPlanFile(planFile)).rejects.toThrow(
      `${planFile}: plan version 0, this sftkit runs version 1 plans`,
    );
    await expect(readPlanFile(join(planFile, "nope.json"))).rejects.toThrow(/plan file not found/);
  });
});

function dirnameOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}
