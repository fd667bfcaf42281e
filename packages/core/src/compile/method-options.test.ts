// Method options that do not combine (PiSSA on an NF4 base or with DoRA) and modulesToSave on a model with
// tied embeddings (stories260K ties lm_head to embed_tokens): located diagnostics from `sft plan`.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { nativeUnsupported } from "../engines/native/index.ts";
import { MethodSchema, methodDefinition } from "../methods/registry.ts";
import { compileRecipe } from "./compile.ts";

const stories = join(import.meta.dirname, "../../../../examples/models/stories260K");

async function plan(method: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), "sft-method-options-"));
  mkdirSync(join(dir, "data"));
  const row = (u: string, a: string) =>
    JSON.stringify({
      messages: [
        { role: "user", content: u },
        { role: "assistant", content: a },
      ],
    });
  writeFileSync(join(dir, "data", "d.jsonl"), `${row("Hi", "Hello")}\n${row("Bye", "Goodbye")}\n`);
  const recipe = {
    name: "options",
    model: { path: stories },
    template: "chatml",
    tokens: { add: ["<|im_start|>", "<|im_end|>"], eos: "<|im_end|>" },
    data: { sources: { main: { path: "data/d.jsonl", format: "messages" } } },
    method,
    train: { overLength: "drop" },
    output: { dir: "out" },
  };
  const recipeFile = join(dir, "recipe.mts");
  writeFileSync(recipeFile, `export default ${JSON.stringify(recipe, null, 2)};\n`);
  const result = await compileRecipe(recipeFile, { write: false });
  const lineOf = (text: string) =>
    readFileSync(recipeFile, "utf8")
      .split("\n")
      .findIndex((l) => l.includes(text)) + 1;
  return { result, recipeFile, lineOf };
}

const located = (r: Awaited<ReturnType<typeof plan>>, code: string) =>
  r.result.diagnostics
    .filter((d) => d.code === code)
    .map((d) => [d.severity, d.path.join("."), d.location?.file === r.recipeFile ? d.location.line : null]);

describe("PiSSA (method.init)", () => {
  it("on a qlora NF4 base: an error at method.init with a hint", async () => {
    const r = await plan({ kind: "qlora", rank: 4, init: "pissa_niter_4" });
    expect(r.result.plan).toBeNull();
    expect(located(r, "sft/method-conflict")).toEqual([["error", "method.init", r.lineOf('"init"')]]);
    const d = r.result.diagnostics.find((x) => x.code === "sft/method-conflict")!;
    expect(d.message).toContain("NF4 base");
    expect(d.hint).toContain('kind: "lora"');
  });

  it("with DoRA: an error at method.init (the export's PiSSA-to-LoRA conversion does not hold)", async () => {
    const r = await plan({ kind: "lora", rank: 4, dora: true, init: "pissa" });
    expect(r.result.plan).toBeNull();
    expect(located(r, "sft/method-conflict")).toEqual([["error", "method.init", r.lineOf('"init"')]]);
  });

  it("a bad step count is a schema error; lora with pissa_niter_4 plans and the plan records it", async () => {
    const bad = await plan({ kind: "lora", rank: 4, init: "pissa_niter_x" });
    expect(bad.result.diagnostics.map((d) => [d.code, d.path.join(".")])).toEqual([
      ["sft/invalid-value", "method.init"],
    ]);
    const r = await plan({ kind: "lora", rank: 4, init: "pissa_niter_4" });
    expect(r.result.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.result.plan!.method).toMatchObject({ kind: "lora", init: "pissa_niter_4" });
  });

  it("the native engine refuses it, naming method.init", () => {
    const m = MethodSchema.parse({ kind: "lora", init: "pissa" });
    const features = methodDefinition(m).engineFeatures?.(m) ?? [];
    expect(features).toEqual([{ feature: "pissa", path: "method.init" }]);
    const ask = {
      backend: "auto",
      gpu: false,
      family: "llama",
      convertsWeights: false,
      modelNeeds: [],
      features,
    };
    expect(nativeUnsupported(ask)).toBe("method.init (pissa) is not implemented natively");
  });
});

describe("modulesToSave on a model with tied embeddings", () => {
  it("lm_head: a warning at its entry saying it trains nothing and to write embed_tokens", async () => {
    const r = await plan({ kind: "lora", rank: 4, modulesToSave: ["norms", "lm_head"] });
    expect(located(r, "sft/tied-modules-to-save")).toEqual([
      ["warning", "method.modulesToSave.1", r.lineOf('"lm_head"')],
    ]);
    const d = r.result.diagnostics.find((x) => x.code === "sft/tied-modules-to-save")!;
    expect(d.message).toContain("trains nothing");
    expect(d.hint).toContain('modulesToSave: ["embed_tokens"]');
    expect(r.result.plan).not.toBeNull();
  });

  it("embed_tokens: a warning that PEFT unties it unless ensure_weight_tying", async () => {
    const r = await plan({ kind: "lora", rank: 4, modulesToSave: ["embed_tokens"] });
    expect(located(r, "sft/tied-modules-to-save")).toEqual([
      ["warning", "method.modulesToSave.0", r.lineOf('"embed_tokens"')],
    ]);
    expect(r.result.diagnostics.find((x) => x.code === "sft/tied-modules-to-save")!.hint).toContain(
      '"ensure_weight_tying": true',
    );
  });

  it("norms alone: no warning", async () => {
    const r = await plan({ kind: "lora", rank: 4, modulesToSave: ["norms"] });
    expect(located(r, "sft/tied-modules-to-save")).toEqual([]);
  });
});
