import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { PlanSchema } from "../compile/plan-schema.ts";
import { tinyConfig } from "../model/tiny.ts";
import { RecipeSchema } from "../recipe/schema/recipe.ts";
import {
  findMethodDefinition,
  MethodSchema,
  methodDefinition,
  methodDefinitions,
  methodKinds,
} from "./registry.ts";

describe("the method registry", () => {
  it("holds one definition per kind, and the recipe's method union is made of their schemas", () => {
    expect(new Set(methodKinds).size).toBe(methodDefinitions.length);
    for (const d of methodDefinitions) {
      expect(methodDefinition({ kind: d.kind })).toBe(d);
      // The recipe accepts each kind through the same schema object the definition holds.
      const parsed = MethodSchema.parse(
        d.kind === "partial" ? { kind: d.kind, lastLayers: 1 } : { kind: d.kind },
      );
      expect(d.schema.parse(parsed)).toEqual(parsed);
    }
    expect(RecipeSchema.shape.method).toBe(MethodSchema);
    expect(findMethodDefinition("dora")).toBeUndefined();
  });

  it("the plan's method is typed by the same schemas: defaults filled, a wrong field refused", () => {
    const method = PlanSchema.shape.method;
    expect(method.parse({ kind: "qlora" })).toMatchObject({
      kind: "qlora",
      rank: 16,
      quantization: { blockSize: 64, doubleQuant: true },
    });
    expect(method.safeParse({ kind: "lora", rank: "eight" }).success).toBe(false);
    expect(method.safeParse({ kind: "prefix", targets: ["q_proj"] }).success).toBe(false);
    expect(method.safeParse({ kind: "dora" }).success).toBe(false);
  });

  it("definitions take plain data: LoRA's parameters and memory from its settings alone", () => {
    const cfg = tinyConfig("llama");
    const lora = MethodSchema.parse({ kind: "lora", rank: 4, targets: ["q_proj", "down_proj"] });
    const def = methodDefinition(lora);
    expect(def.addedParameters(lora, cfg)).toEqual([
      { name: "lora.q_proj", parameters: 2 * 4 * (32 + 32), tensors: 4 },
      { name: "lora.down_proj", parameters: 2 * 4 * (40 + 32), tensors: 4 },
    ]);
    const mem = def.memory(lora);
    expect(mem.adapters).toEqual({ targets: ["q_proj", "down_proj"], rank: 4 });
    expect(mem.headTrains(true)).toBe(true);
    expect(def.adapter).toBe("lora");
    const prefix = MethodSchema.parse({ kind: "prefix", virtualTokens: 3 });
    expect(methodDefinition(prefix).memory(prefix).prefixLength).toBe(3);
    expect(methodDefinition(prefix).mergeable).toBe(false);
  });
});

describe("methods have one home", () => {
  it("nothing outside src/methods branches on a method's kind", () => {
    const src = join(import.meta.dirname, "..");
    const kinds = methodKinds.join("|");
    const branch = new RegExp(`kind\\s*[!=]==\\s*"(?:${kinds})"|case "(?:${kinds})":`);
    const sites: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, e.name);
        if (e.isDirectory()) {
          if (path !== import.meta.dirname && e.name !== "node_modules") walk(path);
        } else if (e.name.endsWith(".ts")) {
          readFileSync(path, "utf8")
            .split("\n")
            .forEach((line, i) => {
              if (branch.test(line)) sites.push(`${relative(src, path)}:${i + 1}: ${line.trim()}`);
            });
        }
      }
    };
    walk(src);
    expect(sites).toEqual([]);
  });

  it("no code outside src/methods compares a `kind === ` (a switch or a table lets the compiler find them)", () => {
    // Any `kind` union, not only methods: a new kind must fail to compile where it is not handled.
    const repo = join(import.meta.dirname, "../../../..");
    const skip = new Set([".git", "node_modules", "out", "dist", "build", "results", ".sft-cache", "tmp"]);
    const sites: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, e.name);
        if (e.isDirectory()) {
          if (path !== import.meta.dirname && !skip.has(e.name)) walk(path);
        } else if (/\.[cm]?[jt]sx?$/.test(e.name)) {
          readFileSync(path, "utf8")
            .split("\n")
            .forEach((line, i) => {
              if (line.includes("kind === ")) sites.push(`${relative(repo, path)}:${i + 1}: ${line.trim()}`);
            });
        }
      }
    };
    walk(repo);
    expect(sites).toEqual([]);
  });
});
