// What an adapter records as its base (PEFT's base_model_name_or_path + revision), portably: the hub id
// when the base came from the Hugging Face cache, else the base folder relative to the adapter folder,
// or a name the user set. And the reverse: finding that base again from an adapter folder.
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import type { Plan } from "../compile/plan-schema.ts";
import { resolveHubModel } from "../model/hub-cache.ts";

/** A hub id (written as is, with the snapshot revision) or a local folder (written relative). */
export type BaseModel = { id: string | null; revision: string | null } | { dir: string };

// <cache>/models--ORG--NAME/snapshots/REV: how huggingface_hub lays out its cache (repo "/" -> "--").
const SNAPSHOT = /(?:^|[\\/])models--(?:([\w.-]+?)--)?([\w.-]+)[\\/]snapshots[\\/]([\w.-]+)[\\/]?$/;

/** `org/name` and the revision when `dir` is a snapshot folder of a Hugging Face hub cache. */
export function hubIdOfCacheDir(dir: string): { id: string; revision: string } | null {
  const m = SNAPSHOT.exec(dir);
  if (!m) return null;
  return { id: m[1] ? `${m[1]}/${m[2]}` : m[2]!, revision: m[3]! };
}

/** The base to record: the user's name (`output.baseModelName`), else the hub id, else the folder. */
export function baseModelOf(source: Plan["model"]["source"], userName?: string | null): BaseModel {
  if (userName) return { id: userName, revision: null };
  if (source.hub) return { id: source.hub, revision: source.revision };
  if (source.path) return hubIdOfCacheDir(source.path) ?? { dir: source.path };
  return { id: null, revision: null };
}

/** base_model_name_or_path and revision as written into a folder at `folder`. */
export function recordedBase(
  base: BaseModel,
  folder: string,
): { name: string | null; revision: string | null } {
  if ("id" in base) return { name: base.id, revision: base.revision };
  // POSIX separators: the adapter may be read on another OS.
  const rel = relative(resolve(folder), resolve(base.dir)).split(sep).join("/");
  return { name: rel || ".", revision: null };
}

/**
 * The base model folder an adapter folder names, for sftkit's own readers: a relative path is resolved
 * against the adapter folder (as written), then the working directory (as transformers would); a hub
 * id through the local cache. Null when nothing is found.
 */
export function findAdapterBase(adapterDir: string): { dir: string | null; name: string | null } {
  let name: unknown;
  let revision: unknown;
  try {
    const conf = JSON.parse(readFileSync(join(adapterDir, "adapter_config.json"), "utf8")) as Record<
      string,
      unknown
    >;
    name = conf.base_model_name_or_path;
    revision = conf.revision;
  } catch {
    return { dir: null, name: null };
  }
  if (typeof name !== "string" || name === "") return { dir: null, name: null };
  const isModel = (d: string) => existsSync(join(d, "config.json"));
  const candidates = isAbsolute(name) ? [name] : [join(adapterDir, name), resolve(name)];
  const local = candidates.find(isModel);
  if (local) return { dir: local, name };
  const hub = resolveHubModel(name, typeof revision === "string" ? { revision } : {});
  return { dir: hub?.dir ?? null, name };
}
