// Hugging Face config.json <-> ModelConfig, through the family registry (model/families/): each family
// holds its own keys, tensors and linears; this file reads the file and answers for any registered family.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { unreachable } from "../util/unreachable.ts";
import {
  familyOf,
  type LinearModule,
  type ModelConfig,
  ModelConfigError,
  parseHfConfig,
} from "./families/index.ts";

export {
  type Architecture,
  type LinearModule,
  type ModelConfig,
  ModelConfigError,
  parseHfConfig,
  type RopeScaling,
  type TensorFact,
  type TensorKind,
  tensorKinds,
  toHfConfig,
} from "./families/index.ts";

/** Reads `<dir>/config.json` as JSON (a ModelConfigError naming the file when it cannot). */
export async function readHfConfigJson(dir: string): Promise<Record<string, unknown>> {
  const file = join(dir, "config.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new ModelConfigError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new ModelConfigError(`${file}: invalid JSON (${(e as Error).message})`);
  }
}

/** Reads and parses `<dir>/config.json`. */
export async function readHfConfig(dir: string): Promise<ModelConfig> {
  return parseHfConfig(await readHfConfigJson(dir), join(dir, "config.json"));
}

/** The linear layers of one decoder layer, in checkpoint order (from the config's family). */
export function linearModules(cfg: ModelConfig): LinearModule[] {
  return familyOf(cfg).linearModules(cfg);
}

/**
 * Parameter counts, from the family's tensor inventory. `perLayer` includes the layer's norms; `norms` is
 * the final norm; `lmHead` is 0 when tied to the embedding.
 */
export function countParameters(cfg: ModelConfig): {
  total: number;
  embedding: number;
  lmHead: number;
  perLayer: number;
  norms: number;
} {
  const n = { total: 0, embedding: 0, lmHead: 0, perLayer: 0, norms: 0 };
  for (const t of familyOf(cfg).tensors(cfg, cfg.vocabSize)) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    n.total += size;
    switch (t.kind) {
      case "embedding":
        n.embedding += size;
        break;
      case "lm_head":
        n.lmHead += size;
        break;
      case "norm":
      case "linear":
      case "bias":
        if (t.layer === 0) n.perLayer += size;
        else if (t.layer === null) n.norms += size;
        break;
      default:
        unreachable(t.kind, "tensor kind");
    }
  }
  return n;
}

/**
 * The module names transformers gives `roles` in this family (the last part of each linear's path): what
 * PEFT's `target_modules`, Axolotl and TRL match. The same as the roles for llama, qwen2 and mistral.
 */
export function hfModuleNames(cfg: ModelConfig, roles: readonly string[]): string[] {
  const byRole = new Map(linearModules(cfg).map((m) => [m.name as string, m.path.split(".").pop()!]));
  return roles.map((r) => byRole.get(r) ?? r);
}
