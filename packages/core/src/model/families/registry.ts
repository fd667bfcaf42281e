// The model families sftkit knows, by `model_type`: the built-ins register themselves from index.ts, and a
// program may add its own with `registerFamily`.
import type { z } from "zod";
import { type ModelConfig, ModelConfigError, type ModelFamily } from "./types.ts";

const families = new Map<string, ModelFamily>();

/** Adds a family; its `name` is the `model_type` it reads. Registering another family under a taken name throws. */
export function registerFamily(family: ModelFamily): ModelFamily {
  const had = families.get(family.name);
  if (had && had !== family) throw new Error(`a model family "${family.name}" is already registered`);
  families.set(family.name, family);
  return family;
}

/** Removes a family registered at run time (tests). */
export function unregisterFamily(name: string): void {
  families.delete(name);
}

export function familyNames(): string[] {
  return [...families.keys()];
}

export function hasFamily(name: string): boolean {
  return families.has(name);
}

/** The family named `name`; a ModelConfigError lists the registered ones otherwise. */
export function familyNamed(name: string): ModelFamily {
  const f = families.get(name);
  if (!f)
    throw new ModelConfigError(
      `model family "${name}" is not registered (registered: ${familyNames().join(", ")})`,
    );
  return f;
}

/** The family of a parsed config. */
export function familyOf(cfg: Pick<ModelConfig, "architecture">): ModelFamily {
  return familyNamed(cfg.architecture);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describeIssues(where: string, issues: z.core.$ZodIssue[]): string {
  return issues.map((i) => `${where}: field "${i.path.join(".")}" ${i.message}`).join("\n");
}

/** Parses a config.json object with its family's schema; `where` (a path) is used in error messages. */
export function parseHfConfig(json: unknown, where: string): ModelConfig {
  if (!isObject(json)) throw new ModelConfigError(`${where}: expected a JSON object`);
  const modelType = json.model_type;
  const family = typeof modelType === "string" ? families.get(modelType) : undefined;
  if (!family) {
    throw new ModelConfigError(
      `${where}: field "model_type" ${JSON.stringify(modelType)} is not supported (supported: ${familyNames().join(", ")})`,
    );
  }
  const parsed = family.configSchema.safeParse(json);
  if (!parsed.success) throw new ModelConfigError(describeIssues(where, parsed.error.issues));
  return parsed.data;
}

/**
 * The config.json of a model of `cfg`'s family: the family's keys from `cfg`, and every other key of the
 * base model's config.json kept as it was (e.g. Mistral's `sliding_window: null`, which transformers would
 * otherwise default to 4096).
 */
export function toHfConfig(cfg: ModelConfig, base?: Record<string, unknown> | null): Record<string, unknown> {
  const family = familyOf(cfg);
  const out = family.toHfConfig(cfg);
  if (!base || base.model_type !== cfg.architecture) return out;
  // What we write is never quantized, whatever the base was.
  const known = new Set([...family.configKeys, ...Object.keys(out), "quantization_config"]);
  const kept = Object.fromEntries(Object.entries(base).filter(([k]) => !known.has(k)));
  return { ...out, ...kept };
}
