import { MethodSchema, parseRecipe } from "@sftkit/core";
import { describe, expect, it } from "vitest";
import * as methods from "./methods.ts";

describe("method presets", () => {
  for (const [name, method] of Object.entries(methods)) {
    it(`${name} is a valid method`, () => {
      expect(MethodSchema.safeParse(method).success).toBe(true);
    });
  }

  it("qlora is the lora preset over an NF4 base", () => {
    const { kind: _q, quantization, ...rest } = methods.qlora;
    const { kind: _l, ...lora } = methods.lora;
    expect(rest).toEqual(lora);
    expect(quantization).toEqual({ blockSize: 64, doubleQuant: true });
  });

  it("pissa is the lora preset started from the principal components (scale 1, no dropout)", () => {
    const r = MethodSchema.parse(methods.pissa);
    expect(r).toMatchObject({ kind: "lora", init: "pissa_niter_4", rank: 16, alpha: 16, dropout: 0 });
  });

  it("a recipe can use a preset and change one field", () => {
    const r = parseRecipe({
      model: { path: "." },
      data: { sources: { a: { path: "a.jsonl", format: "messages" } } },
      method: { ...methods.lora, rank: 4 },
    });
    expect(r.ok && r.recipe.method).toMatchObject({
      kind: "lora",
      rank: 4,
      alpha: 32,
      targets: "all-linear",
    });
  });
});
