import { describe, expect, it } from "vitest";
import { checkRecipe } from "./checks.ts";
import { parseRecipe } from "./parse.ts";

const base = {
  model: { path: "./model" },
  data: { sources: { chat: { path: "chat.jsonl", format: "messages", eval: 0.1 } } },
  method: { kind: "lora" },
};

const problemsOf = (value: unknown) => {
  const r = parseRecipe(value);
  return r.ok ? checkRecipe(r.recipe) : r.problems;
};
const brief = (value: unknown) =>
  problemsOf(value).map((p) => ({ code: p.code, path: p.path.join("."), hint: p.hint }));

describe("parseRecipe", () => {
  it("applies defaults to a minimal recipe", () => {
    const r = parseRecipe(base);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.recipe.method).toMatchObject({ kind: "lora", rank: 16, alpha: 32, rslora: false });
    expect(r.recipe.train).toMatchObject({
      lossOn: "assistant",
      eos: "turn",
      overLength: "drop",
    });
    expect(r.recipe.template).toBe("model");
    expect(r.recipe.tokens.add).toEqual([]);
  });

  it("reports every unknown key with a suggestion", () => {
    const out = brief({ ...base, trian: {}, model: { path: "x", revison: "main" } });
    expect(out).toEqual(
      expect.arrayContaining([
        { code: "sft/unknown-key", path: "trian", hint: "did you mean `train`?" },
        { code: "sft/unknown-key", path: "model.revison", hint: "did you mean `revision`?" },
      ]),
    );
  });

  it("says which method kinds a misplaced key belongs to", () => {
    const [p] = problemsOf({ ...base, method: { kind: "full", rank: 8 } });
    expect(p).toMatchObject({ code: "sft/unknown-key", path: ["method", "rank"], at: "key" });
    expect(p?.hint).toContain("`lora`, `qlora`");
    const [q] = problemsOf({ ...base, method: { kind: "prefix", targets: ["q_proj"] } });
    expect(q?.hint).toContain("no target modules");
  });

  it("suggests the closest method kind and enum value", () => {
    expect(brief({ ...base, method: { kind: "lorra" } })).toEqual([
      { code: "sft/invalid-value", path: "method.kind", hint: 'did you mean "lora"?' },
    ]);
    expect(brief({ ...base, train: { schedule: "cosin" } })).toEqual([
      { code: "sft/invalid-value", path: "train.schedule", hint: 'did you mean "cosine"?' },
    ]);
  });

  it("reports wrong types, ranges and missing fields together", () => {
    const out = brief({
      model: { path: "x" },
      data: { sources: {} },
      method: { kind: "lora", rank: 0 },
      train: { learningRate: "1e-4" },
    });
    expect(out.map((p) => `${p.code} ${p.path}`)).toEqual(
      expect.arrayContaining([
        "sft/out-of-range method.rank",
        "sft/invalid-type train.learningRate",
        "sft/invalid data.sources",
      ]),
    );
    expect(brief({ data: base.data, method: base.method })).toEqual([
      { code: "sft/missing", path: "model", hint: undefined },
    ]);
  });

  it("picks the union branch that matches the value's type", () => {
    expect(brief({ ...base, template: "chatmll" })).toEqual([
      { code: "sft/invalid-value", path: "template", hint: 'did you mean "chatml"?' },
    ]);
    expect(brief({ ...base, template: { jinja: "x", extra: 1 } }).map((p) => p.path)).toEqual([
      "template.extra",
    ]);
  });

  it("runs cross-field rules on a parsed recipe", () => {
    const out = brief({
      ...base,
      tokens: { add: ["<|end|>", "<|end|>"], eos: "<|ned|>" },
      method: { kind: "frozen", trainable: { newTokens: ["<|usr|>"] } },
      train: { eos: "none" },
    });
    expect(out).toEqual(
      expect.arrayContaining([
        { code: "sft/duplicate-token", path: "tokens.add.1", hint: undefined },
        { code: "sft/unknown-token", path: "tokens.eos", hint: "did you mean `<|end|>`?" },
        {
          code: "sft/unknown-token",
          path: "method.trainable.newTokens.0",
          hint: "list tokens from tokens.add",
        },
        { code: "sft/eos-not-trained", path: "train.eos", hint: expect.any(String) },
      ]),
    );
  });

  it("rejects a frozen method that trains nothing and a model with two sources", () => {
    expect(
      brief({ ...base, method: { kind: "frozen", trainable: { newTokens: true } } }).map((p) => p.code),
    ).toContain("sft/nothing-trains");
    expect(brief({ ...base, model: { path: "a", hub: "org/m" } }).map((p) => `${p.code} ${p.path}`)).toEqual([
      "sft/invalid model",
    ]);
  });

  it("warns with stable ids, and only errors block", () => {
    const r = parseRecipe({
      ...base,
      data: { sources: { a: { path: "a.jsonl", format: "alpaca", weight: 5 } } },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const codes = checkRecipe(r.recipe).map((p) => `${p.severity} ${p.code}`);
    expect(codes).toEqual(["warning sft/no-eval-split", "warning sft/heavy-upsampling"]);
  });
});
