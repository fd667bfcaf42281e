import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planParameters, tensorInventory } from "../compile/params.ts";
import { methodDefinition } from "../methods/registry.ts";
import { readHfConfig } from "../model/config.ts";
import { SafetensorsFile } from "../model/safetensors.ts";
import { MethodSchema } from "../recipe/schema/method.ts";
import type { RecipeInput } from "../recipe/schema/recipe.ts";
import { toAxolotlPattern } from "./axolotl-patterns.ts";
import { exportRecipe } from "./export.ts";
import { modelDir, recipeFor, writeData, writeUntiedModel } from "./testing.ts";
import { parseYaml, type YamlValue } from "./yaml.ts";

// Axolotl's matcher, as LayerNamePattern and freeze_layers_except in src/axolotl/utils/freeze.py
// (axolotl-ai-cloud/axolotl@4ef608dda31e84f6e0f9ffbb26ca7157cf0daccf): an optional trailing `[start:end]` is a row
// range, every `.` not followed by `+` is escaped (re.sub(r"\.(?!\+)", "\\.", ...)), and names match with re.match.
function layerNamePattern(pattern: string) {
  const m = /^(.+)\[([0-9]*)(?::([0-9]*))?\]$/.exec(pattern);
  let base = pattern;
  let range: [number, number | null] | null = null;
  if (m) {
    const [, b, start = "", end] = m;
    base = b!;
    if (end === undefined && /^[0-9]+$/.test(start)) range = [Number(start), Number(start) + 1];
    else range = [start ? Number(start) : 0, end ? Number(end) : null];
  }
  const regex = new RegExp(`^(?:${base.replace(/\.(?!\+)/g, "\\.")})`);
  return { match: (name: string) => regex.test(name), range };
}

type Trained = Map<string, "all" | number[]>;

/** What Axolotl trains: whole tensors, or the union of the matching patterns' row ranges. */
function axolotlTrains(names: string[], rows: number, patterns: string[]): Trained {
  const compiled = patterns.map(layerNamePattern);
  const out: Trained = new Map();
  for (const name of names) {
    const matching = compiled.filter((p) => p.match(name));
    if (matching.length === 0) continue;
    const ranges = matching.flatMap((p) => (p.range ? [p.range] : []));
    if (ranges.length === 0) {
      out.set(name, "all");
      continue;
    }
    const ids = new Set<number>();
    for (const [a, b] of ranges) for (let i = a; i < (b ?? rows); i++) ids.add(i);
    out.set(
      name,
      [...ids].sort((x, y) => x - y),
    );
  }
  return out;
}

/** Ids Axolotl gives new tokens: special_tokens first, then `tokens` (src/axolotl/loaders/tokenizer.py). */
function axolotlTokenIds(cfg: Record<string, YamlValue>, vocab: number): Map<string, number> {
  const special = (cfg.special_tokens ?? {}) as Record<string, string>;
  const ids = new Map<string, number>();
  for (const t of [...Object.values(special), ...((cfg.tokens ?? []) as string[])])
    if (!ids.has(t)) ids.set(t, vocab + ids.size);
  return ids;
}

const added = ["<|user|>", "<|assistant|>", "<|end|>"];
const methods: Record<string, RecipeInput["method"]> = {
  "partial lastLayers + modules + lmHead": {
    kind: "partial",
    lastLayers: 2,
    modules: ["mlp\\.down_proj"],
    lmHead: true,
  },
  "partial layerRanges + embeddings": { kind: "partial", layerRanges: [[0, 2]], embeddings: true },
  "partial modules with wildcards": { kind: "partial", modules: ["norm", "layers\\.[13]\\..*\\.(q|k)_proj"] },
  "frozen (all new tokens)": { kind: "frozen" },
  "frozen (one new token) + norms": { kind: "frozen", trainable: { newTokens: ["<|end|>"], norms: true } },
  "frozen new tokens + lmHead": { kind: "frozen", trainable: { lmHead: true } },
};

let data: ReturnType<typeof writeData>;
let untied: string;
beforeAll(() => {
  data = writeData();
  untied = writeUntiedModel(data.dir);
});
afterAll(() => rmSync(data.dir, { recursive: true, force: true }));

describe("Axolotl unfrozen_parameters under Axolotl's own matcher", () => {
  it("the tied model's real tensor names are the ones the family code lists", async () => {
    const file = await SafetensorsFile.open(join(modelDir, "model.safetensors"));
    const names = [...file.tensors.keys()].sort();
    await file.close();
    const cfg = await readHfConfig(modelDir);
    expect(
      tensorInventory(cfg, 512)
        .map((t) => t.name)
        .sort(),
    ).toEqual(names);
  });

  describe.each([
    ["tied", () => modelDir],
    ["untied", () => untied],
  ])("%s stories260K", (_tied, model) => {
    it.each(Object.keys(methods))("%s: selects exactly what sftkit trains", async (label) => {
      const method = methods[label]!;
      const out = join(data.dir, `axolotl-${_tied}-${label.replace(/\W+/g, "-")}`);
      const r = await exportRecipe(recipeFor(data, { method, modelPath: model() }), {
        target: "axolotl",
        out,
      });
      expect(r.ok, r.diagnostics.map((d) => d.message).join("\n")).toBe(true);
      const cfg = parseYaml(readFileSync(join(out, "axolotl.yaml"), "utf8")) as Record<string, YamlValue>;
      const patterns = cfg.unfrozen_parameters as string[];

      const modelCfg = await readHfConfig(model());
      const vocab = 512;
      const rows = vocab + added.length;
      const names = tensorInventory(modelCfg, rows).map((t) => t.name);
      const actual = axolotlTrains(names, rows, patterns);

      // sftkit's own choice: whole tensors from the parameter plan, plus the new tokens' rows.
      const expected: Trained = new Map();
      const parsed = MethodSchema.parse(method);
      const plan = planParameters(modelCfg, vocab, added.length, parsed);
      for (const n of plan.trainableTensors) expected.set(n, "all");
      // The rows a method trains on their own (frozen's newTokens; partial trains none).
      const nt = methodDefinition(parsed).newTokenRows(parsed);
      const ids = axolotlTokenIds(cfg, vocab);
      const trained = nt === true ? added : nt === false ? [] : nt;
      const rowIds = trained.map((t) => ids.get(t)!).sort((a, b) => a - b);
      const tables = ["model.embed_tokens.weight", ...(modelCfg.tieWordEmbeddings ? [] : ["lm_head.weight"])];
      for (const t of tables) if (!expected.has(t) && rowIds.length > 0) expected.set(t, rowIds);
      expect(expected.size).toBeGreaterThan(0);
      expect(new Map([...actual].sort())).toEqual(new Map([...expected].sort()));
    });
  });
});

describe("toAxolotlPattern", () => {
  it("keeps what a JS regex matches once Axolotl has escaped its dots", async () => {
    const cfg = await readHfConfig(untied);
    const names = tensorInventory(cfg, 515).map((t) => t.name);
    for (const p of [
      "mlp\\.down_proj",
      "layers\\.[0-2]\\.self_attn",
      "q.proj",
      "\\.\\d+\\.mlp\\..*_proj",
      "[.]norm",
    ]) {
      const want = names.filter((n) => new RegExp(p).test(n));
      const got = names.filter((n) => layerNamePattern(`^(?:.+)?(?:${toAxolotlPattern(p)})`).match(n));
      expect(got, p).toEqual(want);
      expect(want.length, p).toBeGreaterThan(0);
    }
  });
});
