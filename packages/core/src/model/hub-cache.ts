// Resolves a Hugging Face hub id to a snapshot folder in the local cache. Never touches the network.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The hub cache folder: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return join(env.HF_HOME, "hub");
  return join(env.HOME ?? homedir(), ".cache", "huggingface", "hub");
}

const ID = /^[\w.-]+(\/[\w.-]+)?$/;

/**
 * `org/name` -> `<cache>/models--org--name/snapshots/<rev>/`. `revision` may be a branch/tag under
 * refs/ or a commit hash; default "main". Falls back to the only snapshot when refs/main is absent.
 * Returns null when the model is not in the cache.
 */
export function resolveHubModel(
  id: string,
  opts: { revision?: string; env?: NodeJS.ProcessEnv } = {},
): { dir: string; revision: string } | null {
  if (!ID.test(id) || id.includes("..")) return null;
  const repo = join(hubCacheDir(opts.env), `models--${id.replace("/", "--")}`);
  const snapshots = join(repo, "snapshots");
  if (!existsSync(snapshots)) return null;
  const wanted = opts.revision ?? "main";
  let rev: string | null = null;
  const ref = join(repo, "refs", wanted);
  if (/^[\w.-]+$/.test(wanted) && existsSync(ref) && statSync(ref).isFile()) {
    rev = readFileSync(ref, "utf8").trim();
  } else if (/^[0-9a-f]{7,40}$/.test(wanted)) {
    rev = readdirSync(snapshots).find((r) => r.startsWith(wanted)) ?? null;
  } else if (opts.revision === undefined) {
    const all = readdirSync(snapshots);
    if (all.length === 1) rev = all[0]!;
  }
  if (!rev || !/^[\w.-]+$/.test(rev)) return null;
  const dir = join(snapshots, rev);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return null;
  return { dir, revision: rev };
}
