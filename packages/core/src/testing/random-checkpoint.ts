// A random checkpoint of any registered family, written as transformers would read it: the given
// config.json as is, and every tensor of the family's inventory with seeded values (norm weights near 1 but
// not 1, so a norm applied wrongly shows).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeCheckpoint } from "../model/checkpoint.ts";
import { type ModelConfig, parseHfConfig } from "../model/config.ts";
import type { StDtype } from "../model/dtype.ts";
import { familyOf, tensorKinds } from "../model/families/index.ts";

/** A seeded normal(0, 1) generator (mulberry32 + Box-Muller). */
function normals(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** Writes `configJson` and random weights to `dir`; returns the parsed config. */
export async function writeRandomCheckpoint(
  dir: string,
  configJson: Record<string, unknown>,
  opts: { seed?: number; std?: number; dtype?: StDtype } = {},
): Promise<ModelConfig> {
  const cfg = parseHfConfig(configJson, join(dir, "config.json"));
  const next = normals(opts.seed ?? 1);
  const std = opts.std ?? 0.2;
  const tensors = familyOf(cfg)
    .tensors(cfg, cfg.vocabSize)
    .map((fact) => {
      const n = fact.shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      const ones = tensorKinds[fact.kind].init === "ones";
      for (let i = 0; i < n; i++) data[i] = ones ? 1 + 0.2 * next() : std * next();
      return { name: fact.name, shape: fact.shape, data: async () => data };
    });
  await mkdir(dir, { recursive: true });
  await writeCheckpoint(dir, tensors, { dtype: opts.dtype ?? "F32" });
  await writeFile(join(dir, "config.json"), `${JSON.stringify(configJson, null, 2)}\n`);
  return cfg;
}
