// Exports train the new tokens' rows in the same tables as sftkit: the input embedding, and lm_head when untied.
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileRecipe } from "../compile/compile.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { exportRecipe } from "./export.ts";
import { modelDir, recipeFor, writeData, writeUntiedModel } from "./testing.ts";
import type { ExportTarget } from "./types.ts";
import { parseYaml, type YamlValue } from "./yaml.ts";

type Rows = Record<string, number[]>;

/**
 * Rows PEFT trains from `trainable_token_indices` (huggingface/peft src/peft/tuners/lora/config.py@82f4c0241cff,
 * since v0.15.0): a list targets the input embedding only (an lm_head tied to it follows), a dict names each module.
 */
function peftRows(v: YamlValue | undefined): Rows {
  if (Array.isArray(v)) return { embed_tokens: v as number[] };
  return (v ?? {}) as Rows;
}

/** TrainableTokensConfig: the same token_indices in every target module. */
function trainableTokensRows(kwargs: Record<string, YamlValue>): Rows {
  const ids = kwargs.token_indices as number[];
  return Object.fromEntries((kwargs.target_modules as string[]).map((m) => [m, ids]));
}

/** sftkit's plan: which tables get trainable new-token rows (compile/params.ts), with the ids `ids`. */
async function sftkitRows(recipe: object, ids: number[]): Promise<Rows> {
  const { plan } = await compileRecipe(recipe, { write: false });
  const groups = new Set(plan!.parameterGroups.filter((g) => g.role === "trainable").map((g) => g.name));
  expect(groups.has("embed_tokens (new rows)")).toBe(true);
  return {
    embed_tokens: ids,
    ...(groups.has("lm_head (new rows)") ? { lm_head: ids } : {}),
  };
}

const tokens = { add: ["<|user|>", "<|assistant|>", "<|end|>"] };
const lora: RecipeInput["method"] = { kind: "lora", rank: 4, targets: ["q_proj", "v_proj"] };

let data: ReturnType<typeof writeData>;
let untied: string;
beforeAll(() => {
  data = writeData();
  untied = writeUntiedModel(data.dir);
});
afterAll(() => rmSync(data.dir, { recursive: true, force: true }));

async function exported(target: ExportTarget, model: string, method: RecipeInput["method"], name: string) {
  const recipe = recipeFor(data, { method, tokens, modelPath: model });
  const out = join(data.dir, name);
  const r = await exportRecipe(recipe, { target, out });
  expect(r.ok, r.diagnostics.map((d) => d.message).join("\n")).toBe(true);
  const yaml = (f: string) => parseYaml(readFileSync(join(out, f), "utf8")) as Record<string, YamlValue>;
  return { recipe, yaml };
}

describe.each([
  ["tied", () => modelDir],
  ["untied", () => untied],
])("new tokens' rows on the %s model", (tie, model) => {
  it("TRL LoRA: trainable_token_indices reach every table sftkit trains", async () => {
    const { recipe, yaml } = await exported("trl", model(), lora, `trl-lora-${tie}`);
    const spec = yaml("model.yaml");
    const ids = ((spec.tokenizer as Record<string, YamlValue>).added_tokens as { id: number }[]).map(
      (t) => t.id,
    );
    const kwargs = (spec.peft as Record<string, YamlValue>).kwargs as Record<string, YamlValue>;
    expect(peftRows(kwargs.trainable_token_indices)).toEqual(await sftkitRows(recipe, ids));
  });

  it("TRL frozen: TrainableTokensConfig targets every table sftkit trains", async () => {
    const { recipe, yaml } = await exported("trl", model(), { kind: "frozen" }, `trl-frozen-${tie}`);
    const spec = yaml("model.yaml");
    const peft = spec.peft as Record<string, YamlValue>;
    expect(peft.class).toBe("TrainableTokensConfig");
    const kwargs = peft.kwargs as Record<string, YamlValue>;
    expect(trainableTokensRows(kwargs)).toEqual(await sftkitRows(recipe, kwargs.token_indices as number[]));
  });

  it("TRL frozen with norms: the new rows' tables both train (whole, with a warning)", async () => {
    const method: RecipeInput["method"] = { kind: "frozen", trainable: { norms: true } };
    const { yaml } = await exported("trl", model(), method, `trl-frozen-norms-${tie}`);
    const patterns = (yaml("model.yaml").trainable as string[]).map((p) => new RegExp(`^(?:${p})`));
    const trains = (name: string) => patterns.some((p) => p.test(name));
    expect(trains("model.embed_tokens.weight")).toBe(true);
    expect(trains("lm_head.weight")).toBe(tie === "untied");
  });

  it("Axolotl LoRA: peft_trainable_token_indices reach every table sftkit trains", async () => {
    const { recipe, yaml } = await exported("axolotl", model(), lora, `axolotl-lora-${tie}`);
    const cfg = yaml("axolotl.yaml");
    // Axolotl adds `tokens` after the base vocabulary (512), in order (src/axolotl/loaders/tokenizer.py).
    const ids = (cfg.tokens as string[]).map((_, i) => 512 + i);
    expect(peftRows(cfg.peft_trainable_token_indices)).toEqual(await sftkitRows(recipe, ids));
  });
});
