import { existsSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { glob, isDynamicPattern } from "tinyglobby";
import type { FileType } from "./types.ts";

export const dataExtensions = ["jsonl", "ndjson", "json", "parquet", "csv"] as const;

/** The reader for a file, from its extension (`.jsonl.gz` etc. are not supported). */
export function fileTypeOf(file: string): FileType | undefined {
  const ext = file.toLowerCase().split(".").pop() ?? "";
  if (ext === "jsonl" || ext === "ndjson") return "jsonl";
  if (ext === "json" || ext === "parquet" || ext === "csv") return ext;
  return undefined;
}

export interface ResolvedFiles {
  files: string[];
  /** Patterns that matched nothing, paths that do not exist. */
  missing: { pattern: string; message: string }[];
}

/** Files for a source's `path`: a file, a folder (its data files, recursively) or a glob; sorted, deduplicated. */
export async function resolveFiles(baseDir: string, path: string | string[]): Promise<ResolvedFiles> {
  const files = new Set<string>();
  const missing: ResolvedFiles["missing"] = [];
  for (const pattern of Array.isArray(path) ? path : [path]) {
    const abs = isAbsolute(pattern) ? pattern : resolve(baseDir, pattern);
    let found: string[];
    if (isDynamicPattern(pattern)) {
      found = await glob(pattern, { cwd: baseDir, absolute: true, onlyFiles: true, dot: false });
      if (found.length === 0)
        missing.push({ pattern, message: `glob "${pattern}" matched no file in ${baseDir}` });
    } else if (!existsSync(abs)) {
      missing.push({ pattern, message: `no such file or folder: ${abs}` });
      found = [];
    } else if (statSync(abs).isDirectory()) {
      found = await glob(`**/*.{${dataExtensions.join(",")}}`, { cwd: abs, absolute: true, onlyFiles: true });
      if (found.length === 0)
        missing.push({ pattern, message: `folder ${abs} holds no ${dataExtensions.join("/")} file` });
    } else {
      found = [abs];
    }
    for (const f of found) files.add(resolve(f));
  }
  return { files: [...files].sort(), missing };
}
