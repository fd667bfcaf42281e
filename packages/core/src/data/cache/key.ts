import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/** Bump when the pipeline's output for the same inputs changes (conversion, filters, encoding). */
export const DATA_CODE_VERSION = "data-4";

export async function hashFile(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 22 })) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** JSON with sorted keys, functions by their source text (a `where` predicate is part of the key). */
export function stableJson(v: unknown): string {
  if (typeof v === "function") return JSON.stringify(`fn:${v.toString()}`);
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (v && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** sha256 over every input that changes the tokenized result: files' contents, settings, caller's fingerprint. */
export async function cacheKey(parts: {
  files: string[];
  settings: unknown;
  extra: string;
}): Promise<string> {
  const h = createHash("sha256");
  h.update(`${DATA_CODE_VERSION}\n${parts.extra}\n${stableJson(parts.settings)}\n`);
  for (const f of parts.files) h.update(`${f}\n${await hashFile(f)}\n`);
  return h.digest("hex");
}
