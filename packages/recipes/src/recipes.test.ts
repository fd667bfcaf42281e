// Every shipped recipe compiles, and its plan is snapshot-tested. Hub models are replaced by stand-ins in a
// temporary Hugging Face cache: the real architecture's config.json with the small stories tokenizer.
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { compileRecipe } from "@sftkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeHfStandInCache } from "../../core/src/testing/hf-standins.ts";

const here = import.meta.dirname;
const recipeFiles = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => readdirSync(join(here, d.name)).map((f) => join(d.name, f)))
  .filter((f) => /^[^/]+\/[\w.]+_\w+\.ts$/.test(f) && !f.endsWith(".test.ts"));

let cache: string;
let savedNative: string | undefined;
let savedCache: string | undefined;

beforeAll(() => {
  cache = makeHfStandInCache();
  savedCache = process.env.HF_HUB_CACHE;
  process.env.HF_HUB_CACHE = cache;
  // Plans for pure wasm: the native tier's smaller activations would make them machine-specific.
  savedNative = process.env.SFTKIT_NATIVE;
  process.env.SFTKIT_NATIVE = "0";
});

afterAll(() => {
  if (savedCache === undefined) delete process.env.HF_HUB_CACHE;
  else process.env.HF_HUB_CACHE = savedCache;
  if (savedNative === undefined) delete process.env.SFTKIT_NATIVE;
  else process.env.SFTKIT_NATIVE = savedNative;
});

const repo = join(here, "../../..");
function normalise(value: unknown): unknown {
  const p = JSON.parse(JSON.stringify(value).replaceAll(cache, "<hf-cache>").replaceAll(repo, "<repo>"));
  p.backend = { requested: p.backend.requested };
  p.memory.device = "<device>";
  p.memory.fits = "<fits>";
  p.data.cache = "<cache>";
  p.kernels = "<per backend>";
  // Whether an optional engine (native) is built differs per machine.
  p.engine.available = p.engine.available.map((e: { name: string }) =>
    e.name === "tfjs" ? e : { name: e.name, available: "<machine>", reason: "<machine>" },
  );
  // Shipped recipes name their data by absolute path, so the recipe's hash depends on the checkout.
  p.recipe.hash = "<hash>";
  return p;
}

describe("shipped recipes", () => {
  it("are laid out as <family>/<size>_<method>.ts", () => {
    expect(recipeFiles).toEqual(
      expect.arrayContaining(["smollm2/135m_lora.ts", "qwen2.5/0.5b_qlora.ts", "stories/260k_full.ts"]),
    );
  });

  for (const file of recipeFiles) {
    it(`${file} compiles`, async () => {
      const result = await compileRecipe(join(here, file), { write: false });
      expect(result.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      expect(relative(here, result.plan!.recipe.file!)).toBe(file);
      expect(normalise(result.plan)).toMatchSnapshot();
    });
  }

  it("the real architectures give the real parameter counts", async () => {
    const smol = await compileRecipe(join(here, "smollm2/135m_lora.ts"), { write: false });
    expect(smol.plan!.model.parameters).toBe(134_515_008);
    const qwen = await compileRecipe(join(here, "qwen2.5/0.5b_qlora.ts"), { write: false });
    expect(qwen.plan!.model.parameters).toBe(494_032_768);
    expect(qwen.plan!.parameters.quantized).toBeGreaterThan(300_000_000);
  });
});
