import { describe, expect, it } from "vitest";
import { defineRecipe, extendRecipe, recipeSourceFile } from "./define.ts";
import { parseRecipe } from "./parse.ts";

const base = defineRecipe({
  model: { path: "./model" },
  tokens: { add: ["<|end|>"], eos: "<|end|>" },
  data: {
    sources: {
      chat: { path: "a.jsonl", format: "messages" },
      extra: { path: "b.jsonl", format: "alpaca", weight: 2 },
    },
  },
  method: { kind: "lora", rank: 16, alpha: 32, targets: ["q_proj", "v_proj"] },
  train: { epochs: 3, maxLength: 512 },
});

describe("defineRecipe / extendRecipe", () => {
  it("remembers the file a recipe was written in", () => {
    expect((base as Record<symbol, unknown>)[recipeSourceFile]).toBe(import.meta.filename);
  });

  it("merges objects key by key and replaces arrays and scalars", () => {
    const child = extendRecipe(base, {
      data: { sources: { extra: { weight: 0.5 } } },
      method: { kind: "lora", rank: 4, targets: ["o_proj"] },
      train: { maxLength: 256 },
    });
    expect(child.data.sources.extra).toEqual({ path: "b.jsonl", format: "alpaca", weight: 0.5 });
    expect(child.data.sources.chat).toEqual(base.data.sources.chat);
    expect(child.method).toEqual({ kind: "lora", rank: 4, alpha: 32, targets: ["o_proj"] });
    expect(child.train).toEqual({ epochs: 3, maxLength: 256 });
    expect(child.tokens).toEqual(base.tokens);
    // The base is untouched.
    expect(base.method).toEqual({ kind: "lora", rank: 16, alpha: 32, targets: ["q_proj", "v_proj"] });
    expect(parseRecipe(child).ok).toBe(true);
  });

  it("replaces the whole method when the kind changes, so stale fields cannot leak", () => {
    const child = extendRecipe(base, { method: { kind: "full" } });
    expect(child.method).toEqual({ kind: "full" });
    expect(parseRecipe(child).ok).toBe(true);
  });
});
