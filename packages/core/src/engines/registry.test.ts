import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compileRecipe } from "../compile/compile.ts";
import { decideEngine, engineDefinition, listEngines, registerEngine, unregisterEngine } from "./index.ts";

const never = {
  name: "never",
  description: "an engine whose toolchain is missing",
  availability: () => ({ available: false, reason: "libnever.so was not built" }),
  create: () => {
    throw new Error("unreachable");
  },
};

// The native and cuda engines are available only where they are built: these tests see tfjs alone.
const native = engineDefinition("native");
const cuda = engineDefinition("cuda");
beforeEach(() => {
  unregisterEngine("cuda");
  unregisterEngine("native");
});

afterEach(() => {
  unregisterEngine("never");
  if (native) registerEngine(native);
  if (cuda) registerEngine(cuda);
});

describe("engine registry", () => {
  it("lists every engine with its availability and the reason, tfjs last", () => {
    registerEngine(never);
    const all = listEngines();
    expect(all.map((e) => [e.name, e.available])).toEqual([
      ["never", false],
      ["tfjs", true],
    ]);
    expect(all[0]!.reason).toBe("libnever.so was not built");
  });

  it("auto takes the first available; a requested engine that is unavailable falls back and says why", () => {
    registerEngine(never);
    expect(decideEngine("auto", {})).toMatchObject({
      chosen: "tfjs",
      reason: "auto: first available of never > tfjs",
    });
    expect(decideEngine("never", {})).toMatchObject({
      requested: "never",
      chosen: "tfjs",
      reason: "never is unavailable (libnever.so was not built); falling back to tfjs",
    });
    expect(decideEngine("nope", {}).reason).toBe("nope is not a registered engine; falling back to tfjs");
    expect(decideEngine("tfjs", {}).reason).toBe("set by the recipe");
  });

  it("$SFTKIT_ENGINE overrides the recipe", () => {
    expect(decideEngine("auto", { SFTKIT_ENGINE: "tfjs" })).toMatchObject({
      requested: "tfjs",
      chosen: "tfjs",
      reason: "set by $SFTKIT_ENGINE",
    });
  });

  it("refuses names that cannot be written in a recipe", () => {
    expect(() => registerEngine({ ...never, name: "auto" })).toThrow(/not a valid engine name/);
    expect(() => registerEngine({ ...never, name: "Tf JS" })).toThrow(/not a valid engine name/);
  });
});

describe("the recipe's engine", () => {
  it("train.backend still picks the tfjs backend, with a located deprecation warning", async () => {
    const file = join(import.meta.dirname, "fixtures", "backend-recipe.ts");
    const r = await compileRecipe(file, { write: false });
    expect(r.plan?.backend.requested).toBe("wasm");
    expect(r.plan?.engine).toMatchObject({ requested: "auto", chosen: "tfjs" });
    const w = r.diagnostics.find((d) => d.code === "sft/backend-deprecated");
    expect(w?.severity).toBe("warning");
    expect([w?.location?.file, w?.location?.line, w?.location?.column]).toEqual([file, 13, 31]);
    expect(w?.hint).toContain('engine: "tfjs/wasm"');
  });
});
