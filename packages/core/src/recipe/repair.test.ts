import { describe, expect, it } from "vitest";
import { compileRecipe } from "../compile/compile.ts";
import { formatPath } from "./diagnostics.ts";

const base = {
  model: { path: "/nowhere/model" },
  data: { sources: { chat: { path: "/nowhere/chat.jsonl", format: "messages" } } },
  method: { kind: "lora" },
};

describe("schema errors do not hide the later stages", () => {
  it("reports a removed array element's neighbours at their written index, once each", async () => {
    const r = await compileRecipe(
      { ...base, tokens: { add: ["<|a|>", 5, "<|a|>"], eos: "<|b|>" }, train: { epochs: 0 } },
      { write: false },
    );
    expect(r.plan).toBeNull();
    expect(r.diagnostics.map((d) => `${d.code} ${formatPath(d.path)}`)).toEqual([
      "sft/invalid-type tokens.add[1]",
      "sft/out-of-range train.epochs",
      // Index 2 as written (index 1 once the bad element is removed); the eos reference is not judged.
      "sft/duplicate-token tokens.add[2]",
      "sft/model-not-found model.path",
      "sft/data-not-found data.sources.chat.path",
    ]);
  });

  it("checks token references and files when only an optional value is wrong", async () => {
    const r = await compileRecipe(
      { ...base, tokens: { add: ["<|end|>"], eos: "<|edn|>" }, train: { schedule: "cosin" } },
      { write: false },
    );
    const codes = r.diagnostics.map((d) => `${d.code} ${formatPath(d.path)}`);
    expect(codes).toEqual([
      "sft/invalid-value train.schedule",
      "sft/unknown-token tokens.eos",
      "sft/model-not-found model.path",
      "sft/data-not-found data.sources.chat.path",
    ]);
    expect(r.diagnostics[1]?.hint).toBe("did you mean `<|end|>`?");
  });
});
