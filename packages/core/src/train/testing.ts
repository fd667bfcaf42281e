// Test helper: a `full` method runtime (every model weight trains), independent of src/model/adapters.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Model } from "../model/llama.ts";
import type { MethodRuntime } from "./method-runtime.ts";
import type { Methods } from "./methods.ts";

export function fullRuntime(model: Model): MethodRuntime {
  const trainable = new Map(model.parameters());
  return {
    kind: "full",
    trainable,
    decays: (name) => !name.endsWith("norm.weight") && !name.endsWith(".bias"),
    forward: () => ({}),
    async save(opts) {
      const dir = join(opts.outDir, "model");
      await mkdir(dir, { recursive: true });
      await model.save(dir);
      return [join(dir, "config.json"), join(dir, "model.safetensors")];
    },
    dispose() {},
  };
}

export const fullMethods: Methods = { buildMethod: (model) => fullRuntime(model) };
