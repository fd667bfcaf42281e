import { createHash } from "node:crypto";
import type { z } from "zod";
import type { FiltersSchema } from "../../recipe/schema/data.ts";
import { isRefusal, truncation } from "../quality/checks.ts";
import {
  detectLanguage,
  languageAllowed,
  languagesDiffer,
  TRANSLATION_REQUEST,
} from "../quality/language.ts";
import { LshIndex, signature } from "../quality/minhash.ts";
import { IGNORE_INDEX } from "../types.ts";
import type { Converted } from "./types.ts";

export type FiltersOutput = z.output<typeof FiltersSchema>;
export type FilterName =
  | "where"
  | "dropEmpty"
  | "minChars"
  | "maxChars"
  | "minLength"
  | "maxLength"
  | "dropTruncated"
  | "dropRefusals"
  | "language"
  | "dedupe";
export type FilterCounts = Partial<Record<FilterName, number>>;

/** All of a sample's text (what minChars/maxChars measure and dedupe compares). */
export function sampleText(c: Converted): string {
  switch (c.kind) {
    case "text":
      return c.text;
    case "ids":
      return "";
    case "chat":
      return c.conversation.messages
        .map((m) => m.content + (m.tool_calls ? JSON.stringify(m.tool_calls) : ""))
        .join("\n");
  }
}

/** The text the loss is computed on (trained assistant turns, or the whole completion). */
export function trainedText(c: Converted): string {
  switch (c.kind) {
    case "text":
      return c.text;
    case "ids":
      return c.labels.some((l) => l !== IGNORE_INDEX) ? "ids" : "";
    case "chat":
      return c.conversation.messages
        .filter((m) => m.role === "assistant" && m.train !== false)
        .map((m) => m.content + (m.tool_calls?.length ? JSON.stringify(m.tool_calls) : ""))
        .join("");
  }
}

/**
 * The first user or assistant turn with no text (and no tool call), as `turn N (role)`; null when none. An empty
 * answer mid-conversation would train an instant end-of-turn.
 */
export function emptyTurn(c: Converted): string | null {
  if (c.kind !== "chat") return null;
  const i = c.conversation.messages.findIndex(
    (m) => (m.role === "user" || m.role === "assistant") && m.content.trim() === "" && !m.tool_calls?.length,
  );
  if (i < 0) return null;
  return `turn ${i + 1} (${c.conversation.messages[i]!.role})`;
}

/** The user side of a chat sample (its instruction and input); "" for completions and ids. */
export function promptText(c: Converted): string {
  if (c.kind !== "chat") return "";
  return c.conversation.messages
    .filter((m) => m.role === "user")
    .map((m) => m.content)
    .join("\n");
}

/** The last trained answer: what truncation and refusal checks look at. */
export function lastAnswer(c: Converted): string {
  switch (c.kind) {
    case "text":
      return c.text;
    case "ids":
      return "";
    case "chat": {
      const trained = c.conversation.messages.filter((m) => m.role === "assistant" && m.train !== false);
      return trained[trained.length - 1]?.content ?? "";
    }
  }
}

function fingerprint(c: Converted): string {
  return createHash("sha1").update(fingerprintKey(c)).digest("base64");
}

function fingerprintKey(c: Converted): string {
  switch (c.kind) {
    case "chat":
      return JSON.stringify(
        c.conversation.messages.map((m) => [m.role, norm(m.content), m.tool_calls ?? null]),
      );
    case "text":
      return norm(c.text);
    case "ids":
      return `${c.inputIds.join(",")}|${c.labels.join(",")}`;
  }
}

/** Case and spacing do not make a row new (the quality report's "exact duplicate" is the same). */
function norm(s: string): string {
  return s.toLowerCase().replace(/\s+/g, " ").trim();
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
  const near = typeof f.dedupe === "object" ? new LshIndex(f.dedupe.threshold) : null;
  let nextId = 0;
  const drop = (name: FilterName): FilterName => {
    counts[name] = (counts[name] ?? 0) + 1;
    return name;
  };
  return {
    counts,
    check(raw, c) {
      if (f.where && !f.where(raw)) return drop("where");
      if (f.dropEmpty && (trainedText(c).trim() === "" || emptyTurn(c) !== null)) return drop("dropEmpty");
      if (c.kind !== "ids" && (f.minChars !== undefined || f.maxChars !== undefined)) {
        const n = sampleText(c).length;
        if (f.minChars !== undefined && n < f.minChars) return drop("minChars");
        if (f.maxChars !== undefined && n > f.maxChars) return drop("maxChars");
      }
      if (c.kind !== "ids" && (f.minLength !== undefined || f.maxLength !== undefined)) {
        const n = trainedText(c).trim().length;
        if (f.minLength !== undefined && n < f.minLength) return drop("minLength");
        if (f.maxLength !== undefined && n > f.maxLength) return drop("maxLength");
      }
      if (f.dropTruncated && c.kind !== "ids" && truncation(lastAnswer(c)) !== null)
        return drop("dropTruncated");
      if (f.dropRefusals && c.kind !== "ids" && isRefusal(lastAnswer(c))) return drop("dropRefusals");
      if (f.language && c.kind !== "ids" && !languageOk(f.language, c)) return drop("language");
      if (f.dedupe) {
        const key = fingerprint(c);
        if (seen.has(key)) return drop("dedupe");
        seen.add(key);
        if (near && c.kind !== "ids") {
          const sig = signature(sampleText(c));
          if (near.query(sig)) return drop("dedupe");
          near.add(nextId++, sig);
        }
      }
      return null;
    },
  };
}

function languageOk(rule: "same" | string[], c: Converted): boolean {
  const answer = detectLanguage(trainedText(c));
  if (rule !== "same") return languageAllowed(answer, rule);
  const prompt = promptText(c);
  if (TRANSLATION_REQUEST.test(prompt)) return true;
  return !languagesDiffer(detectLanguage(prompt), answer);
}
