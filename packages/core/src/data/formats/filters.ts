import { createHash } from "node:crypto";
import type { z } from "zod";
import type { FiltersSchema } from "../../recipe/schema/data.ts";
import { IGNORE_INDEX } from "../types.ts";
import type { Converted } from "./types.ts";

export type FiltersOutput = z.output<typeof FiltersSchema>;
export type FilterName = "where" | "dropEmpty" | "minChars" | "maxChars" | "dedupe";
export type FilterCounts = Partial<Record<FilterName, number>>;

/** All of a sample's text (what minChars/maxChars measure and dedupe compares). */
export function sampleText(c: Converted): string {
  if (c.kind === "text") return c.text;
  if (c.kind === "ids") return "";
  return c.conversation.messages
    .map((m) => m.content + (m.tool_calls ? JSON.stringify(m.tool_calls) : ""))
    .join("\n");
}

/** The text the loss is computed on (trained assistant turns, or the whole completion). */
export function trainedText(c: Converted): string {
  if (c.kind === "text") return c.text;
  if (c.kind === "ids") return c.labels.some((l) => l !== IGNORE_INDEX) ? "ids" : "";
  return c.conversation.messages
    .filter((m) => m.role === "assistant" && m.train !== false)
    .map((m) => m.content + (m.tool_calls?.length ? JSON.stringify(m.tool_calls) : ""))
    .join("");
}

function fingerprint(c: Converted): string {
  const key =
    c.kind === "chat"
      ? JSON.stringify(c.conversation.messages.map((m) => [m.role, norm(m.content), m.tool_calls ?? null]))
      : c.kind === "text"
        ? norm(c.text)
        : `${c.inputIds.join(",")}|${c.labels.join(",")}`;
  return createHash("sha1").update(key).digest("base64");
}

function norm(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

/** Stateful (dedupe remembers what it saw): returns the filter that dropped the row, or null to keep it. */
export function applyFilters(filters: Partial<FiltersOutput> | undefined): {
  check(raw: Record<string, unknown>, c: Converted): FilterName | null;
  counts: FilterCounts;
} {
  // dropEmpty defaults to true even when no `filters` block is given.
  const f = { dropEmpty: true, dedupe: false, ...filters };
  const counts: FilterCounts = {};
  const seen = new Set<string>();
  const drop = (name: FilterName): FilterName => {
    counts[name] = (counts[name] ?? 0) + 1;
    return name;
  };
  return {
    counts,
    check(raw, c) {
      if (f.where && !f.where(raw)) return drop("where");
      if (f.dropEmpty && trainedText(c).trim() === "") return drop("dropEmpty");
      if (c.kind !== "ids" && (f.minChars !== undefined || f.maxChars !== undefined)) {
        const n = sampleText(c).length;
        if (f.minChars !== undefined && n < f.minChars) return drop("minChars");
        if (f.maxChars !== undefined && n > f.maxChars) return drop("maxChars");
      }
      if (f.dedupe) {
        const key = fingerprint(c);
        if (seen.has(key)) return drop("dedupe");
        seen.add(key);
      }
      return null;
    },
  };
}
