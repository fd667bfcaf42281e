// Exports name the base model portably: the hub id, a path relative to the export folder, or --base-model.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { exportRecipe } from "./export.ts";
import { modelDir, recipeFor, writeData } from "./testing.ts";
import { parseYaml, type YamlValue } from "./yaml.ts";

let data: ReturnType<typeof writeData>;
beforeAll(() => {
  data = writeData();
});
afterAll(() => rmSync(data.dir, { recursive: true, force: true }));
afterEach(() => {
  vi.unstubAllEnvs();
});

const yaml = (out: string, f: string) =>
  parseYaml(readFileSync(join(out, f), "utf8")) as Record<string, Record<string, YamlValue>>;

/** The model and tokenizer each target loads. */
async function references(recipe: object, out: string, baseModel?: string) {
  const opts = baseModel !== undefined ? { baseModel } : {};
  const a = await exportRecipe(recipe, { target: "axolotl", out: join(out, "axolotl"), ...opts });
  const t = await exportRecipe(recipe, { target: "trl", out: join(out, "trl"), ...opts });
  expect(a.ok && t.ok, [...a.diagnostics, ...t.diagnostics].map((d) => d.message).join("\n")).toBe(true);
  const spec = yaml(join(out, "trl"), "model.yaml");
  return {
    axolotl: yaml(join(out, "axolotl"), "axolotl.yaml").base_model as unknown as string,
    trlModel: spec.model!.path as string,
    trlTokenizer: spec.tokenizer!.path as string,
  };
}

describe("exported base model paths", () => {
  it("a local model folder is written relative to the export folder (launch.sh runs there)", async () => {
    const out = join(data.dir, "nested/exports");
    const r = await references(recipeFor(data, {}), out);
    expect(Object.values(r).filter(isAbsolute)).toEqual([]);
    expect(resolve(out, "axolotl", r.axolotl)).toBe(modelDir);
    expect(resolve(out, "trl", r.trlModel)).toBe(modelDir);
    expect(resolve(out, "trl", r.trlTokenizer)).toBe(modelDir);
  });

  it("a model from the hub cache is written as its hub id, tokenizer included", async () => {
    const cache = join(data.dir, "hf-cache");
    const repo = join(cache, "models--Org--Tiny");
    const rev = "c".repeat(40);
    cpSync(modelDir, join(repo, "snapshots", rev), { recursive: true });
    mkdirSync(join(repo, "refs"), { recursive: true });
    writeFileSync(join(repo, "refs", "main"), rev);
    vi.stubEnv("HF_HUB_CACHE", cache);
    const recipe = { ...recipeFor(data, {}), model: { hub: "Org/Tiny" } };
    const r = await references(recipe, join(data.dir, "hub-export"));
    expect(r).toEqual({ axolotl: "Org/Tiny", trlModel: "Org/Tiny", trlTokenizer: "Org/Tiny" });
  });

  it("output.baseModelName names the base in exports as in the adapter", async () => {
    const base = recipeFor(data, {}) as { output?: object };
    const recipe = { ...base, output: { ...base.output, baseModelName: "Org/Published" } };
    const r = await references(recipe, join(data.dir, "named"));
    expect([r.axolotl, r.trlModel]).toEqual(["Org/Published", "Org/Published"]);
  });

  it("--base-model replaces the recipe's model, verbatim", async () => {
    const r = await references(recipeFor(data, {}), join(data.dir, "flag"), "/cluster/models/llama");
    expect(r).toEqual({
      axolotl: "/cluster/models/llama",
      trlModel: "/cluster/models/llama",
      trlTokenizer: "/cluster/models/llama",
    });
  });
});
