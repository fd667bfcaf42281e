// A family added in one file (testing/toy-family.ts, public API only) runs the whole way: a Hugging Face
// folder of it on disk is compiled, loaded, trained with LoRA and written as adapter, merged model and a TRL
// export, with its own tensor names, classes and module names throughout.
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportRecipe, loadModel, Model, train, unregisterFamily } from "../index.ts";
import { SafetensorsFile } from "../model/safetensors.ts";
import { compileTest, storiesDir, testRecipe } from "../train/fixtures.testing.ts";
import { registerToyFamily, toyFamily } from "./toy-family.ts";

const tensorNames = async (file: string): Promise<string[]> => {
  const st = await SafetensorsFile.open(file);
  try {
    return [...st.tensors.keys()];
  } finally {
    await st.close();
  }
};

describe("a model family registered from one file", () => {
  let base = "";
  beforeAll(async () => {
    registerToyFamily();
    // stories260K's real weights, renamed as the toy family names them, with a key no family reads.
    const stories = await loadModel(storiesDir);
    const weights = new Map(
      [...stories.weights].map(([name, v]) => [
        name.replace(".self_attn.o_proj.", ".self_attn.out_proj."),
        v,
      ]),
    );
    const toy = new Model({ ...stories.config, architecture: toyFamily.name }, weights);
    base = mkdtempSync(join(tmpdir(), "sft-toy-family-"));
    await toy.save(base);
    toy.dispose();
    for (const f of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"])
      copyFileSync(join(storiesDir, f), join(base, f));
    const config = JSON.parse(readFileSync(join(base, "config.json"), "utf8"));
    writeFileSync(join(base, "config.json"), JSON.stringify({ ...config, toy_window: null }));
  });
  afterAll(() => unregisterFamily(toyFamily.name));

  it("loads, trains and exports it under its own names", async () => {
    expect(await tensorNames(join(base, "model.safetensors"))).toContain(
      "model.layers.0.self_attn.out_proj.weight",
    );
    const recipe = testRecipe(
      { steps: 3 },
      {
        model: { path: base },
        method: { kind: "lora", rank: 4, alpha: 8, targets: ["q_proj", "o_proj"] },
        output: { dir: mkdtempSync(join(tmpdir(), "sft-toy-out-")), save: "both" },
      },
    );
    const { plan, compiled } = await compileTest(recipe);
    expect(plan.model.architecture).toBe("toyllama");
    expect(plan.parameterGroups.map((g) => g.name)).toContain("layers.*.self_attn.out_proj");

    const run = await train(plan, { compiled, progress: "off", samples: 0, handleSigint: false });
    expect(run.steps).toBe(3);
    expect(Number.isFinite(run.loss)).toBe(true);

    const out = plan.output.dir;
    const adapterConfig = JSON.parse(readFileSync(join(out, "adapter", "adapter_config.json"), "utf8"));
    expect([...adapterConfig.target_modules].sort()).toEqual(["out_proj", "q_proj"]);
    expect(await tensorNames(join(out, "adapter", "adapter_model.safetensors"))).toContain(
      "base_model.model.model.layers.0.self_attn.out_proj.lora_A.weight",
    );
    const merged = JSON.parse(readFileSync(join(out, "model", "config.json"), "utf8"));
    expect(merged).toMatchObject({ model_type: "toyllama", architectures: ["ToyLlamaForCausalLM"] });
    expect(merged).toHaveProperty("toy_window", null);
    expect(await tensorNames(join(out, "model", "model.safetensors"))).toContain(
      "model.layers.3.self_attn.out_proj.weight",
    );

    // The merged folder loads back as the family, and differs from the base where LoRA trained.
    const [before, after] = [await loadModel(base), await loadModel(join(out, "model"))];
    expect(after.config.architecture).toBe("toyllama");
    const name = "model.layers.0.self_attn.out_proj.weight";
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(before.w(name), after.w(name)))).dataSync()[0]!);
    expect(diff).toBeGreaterThan(0);
    before.dispose();
    after.dispose();

    const exported = mkdtempSync(join(tmpdir(), "sft-toy-trl-"));
    const r = await exportRecipe(recipe, { target: "trl", out: exported });
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const text = readdirSync(exported)
      .filter((f) => /\.(ya?ml|json|py)$/.test(f))
      .map((f) => readFileSync(join(exported, f), "utf8"))
      .join("\n");
    expect(text).toContain("out_proj");
    expect(text).not.toMatch(/\bo_proj\b/);
  }, 240_000);
});
