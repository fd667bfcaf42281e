// Every bad recipe under fixtures/bad is compiled; each problem must come with its exact file:line:column.
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { compileRecipe } from "../compile/compile.ts";
import { formatDiagnostics, formatPath } from "./diagnostics.ts";
import { parseRecipe } from "./parse.ts";

const dir = join(import.meta.dirname, "fixtures", "bad");

/** [severity code, recipe path, file (relative to fixtures/bad), line, column] */
type Expected = [string, string, string, number, number];

const cases: Record<string, Expected[]> = {
  "unknown-key.ts": [["error sft/unknown-key", "trian", "unknown-key.ts", 9, 3]],
  "wrong-types.ts": [
    ["error sft/out-of-range", "train.epochs", "wrong-types.ts", 11, 13],
    ["error sft/invalid-type", "train.learningRate", "wrong-types.ts", 10, 19],
    ["error sft/invalid-value", "train.schedule", "wrong-types.ts", 12, 15],
  ],
  "full-with-rank.ts": [["error sft/unknown-key", "method.rank", "full-with-rank.ts", 10, 5]],
  "bad-method-kind.ts": [["error sft/invalid-value", "method.kind", "bad-method-kind.ts", 8, 19]],
  "prefix-with-targets.ts": [
    ["error sft/out-of-range", "method.virtualTokens", "prefix-with-targets.ts", 8, 44],
    ["error sft/unknown-key", "method.targets", "prefix-with-targets.ts", 8, 47],
  ],
  "many-errors.ts": [
    ["error sft/invalid", "model", "many-errors.ts", 4, 10],
    ["error sft/invalid-value", "template", "many-errors.ts", 5, 13],
    ["error sft/invalid", "data.sources.chat.samples", "many-errors.ts", 8, 80],
    ["error sft/invalid-value", "data.sources.other.format", "many-errors.ts", 9, 49],
    ["error sft/out-of-range", "method.rank", "many-errors.ts", 12, 33],
    ["error sft/invalid-value", "method.targets[1]", "many-errors.ts", 12, 67],
    ["error sft/invalid", "train.tokensPerMicroBatch", "many-errors.ts", 13, 33],
    ["error sft/invalid-value", "output.save", "many-errors.ts", 14, 19],
  ],
  // The bad value sits in an imported preset: the location is in the preset's file.
  "bad-preset.ts": [["error sft/out-of-range", "method.rank", "presets/bad-lora.ts", 4, 9]],
  // extendRecipe: an override is located in the recipe, a base value in the base's file.
  "extend-base.ts": [
    ["error sft/out-of-range", "method.alpha", "extend-base.ts", 5, 20],
    ["error sft/out-of-range", "method.dropout", "presets/base-recipe.ts", 8, 45],
  ],
  "token-typo.ts": [
    ["error sft/unknown-token", "tokens.eos", "token-typo.ts", 10, 10],
    ["error sft/unknown-token", "method.trainable.newTokens[0]", "token-typo.ts", 12, 54],
  ],
  // Schema errors do not hide the later stages: the misspelled token and the missing file come in the same pass.
  "schema-and-token-typo.ts": [
    ["error sft/out-of-range", "train.epochs", "schema-and-token-typo.ts", 11, 20],
    ["error sft/unknown-key", "train.lerningRate", "schema-and-token-typo.ts", 11, 24],
    ["error sft/unknown-token", "tokens.eos", "schema-and-token-typo.ts", 8, 55],
    ["error sft/data-not-found", "data.sources.chat.path", "schema-and-token-typo.ts", 9, 36],
  ],
  "frozen-nothing.ts": [["error sft/nothing-trains", "method.trainable", "frozen-nothing.ts", 10, 16]],
  "missing-files.ts": [
    ["warning sft/no-eval-split", "data.sources", "missing-files.ts", 6, 20],
    ["error sft/model-not-found", "model.path", "missing-files.ts", 4, 18],
    ["error sft/template-not-found", "template.file", "missing-files.ts", 5, 21],
    ["error sft/data-not-found", "data.sources.chat.path", "missing-files.ts", 6, 36],
  ],
  "empty-weighted-source.ts": [
    ["error sft/empty-source", "data.sources.extra.weight", "empty-weighted-source.ts", 10, 70],
  ],
  "max-length-too-short.ts": [
    ["error sft/prompt-exceeds-max-length", "train.maxLength", "max-length-too-short.ts", 10, 16],
    ["error sft/no-train-samples", "data.sources.chat", "_shared.ts", 5, 40],
  ],
  "qlora-on-quantized.ts": [["error sft/already-quantized", "method.kind", "qlora-on-quantized.ts", 9, 19]],
  "eos-impossible.ts": [["error sft/eos-impossible", "train.eos", "eos-impossible.ts", 10, 17]],
  "syntax-error.ts": [["error sft/recipe-load", "(recipe)", "syntax-error.ts", 4, 23]],
};

describe("bad recipes: every problem, located", () => {
  for (const [name, expected] of Object.entries(cases)) {
    it(name, async () => {
      const result = await compileRecipe(join(dir, name), { write: false });
      expect(result.plan).toBeNull();
      const got = result.diagnostics.map((d) => [
        `${d.severity} ${d.code}`,
        formatPath(d.path),
        d.location ? relative(dir, d.location.file) : "(none)",
        d.location?.line,
        d.location?.column,
      ]);
      expect(got).toEqual(expected);
    });
  }

  it("prints a code frame with a caret and a hint", async () => {
    const result = await compileRecipe(join(dir, "unknown-key.ts"), { write: false });
    const text = formatDiagnostics(result.diagnostics, { cwd: dir });
    expect(text).toContain("unknown-key.ts:9:3 error trian: unknown key `trian` [sft/unknown-key]");
    expect(text).toContain(">  9 |   trian: { epochs: 1 },");
    expect(text).toMatch(/\n\s+\| {3}\^\n/);
    expect(text).toContain("hint: did you mean `train`?");
  });

  it("names where a misplaced method key belongs", async () => {
    const result = await compileRecipe(join(dir, "full-with-rank.ts"), { write: false });
    expect(result.diagnostics[0]?.hint).toBe("`rank` belongs to the `lora`, `qlora` methods, not `full`");
  });

  it("DoRA on a prefix method is refused at method.dora, saying why", () => {
    const r = parseRecipe({
      model: { path: "." },
      data: { sources: { a: { path: "a.jsonl", format: "messages" } } },
      method: { kind: "prefix", virtualTokens: 4, dora: true },
    });
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => [p.code, p.path.join("."), p.hint])).toEqual([
      [
        "sft/unknown-key",
        "method.dora",
        "`dora` belongs to the `lora`, `qlora` methods, not `prefix`; DoRA rescales the weights of LoRA's linears; prefixes have none",
      ],
    ]);
  });
});
