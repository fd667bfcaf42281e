import type { z } from "zod";
import type { SourceSchema } from "../../recipe/schema/data.ts";
import type { Conversation } from "../types.ts";

export type SourceOutput = z.output<typeof SourceSchema>;
export type SourceFormatOptions = Pick<SourceOutput, "format" | "columns" | "tags">;

/** What a row becomes before tokenization. */
export type Converted =
  | { kind: "chat"; conversation: Conversation }
  | { kind: "text"; text: string }
  | { kind: "ids"; inputIds: number[]; labels: number[] };

/** The conversation of a chat sample; null for completions and token ids. */
export function conversationOf(c: Converted): Conversation | null {
  switch (c.kind) {
    case "chat":
      return c.conversation;
    case "text":
    case "ids":
      return null;
  }
}

export type ConvertResult = { ok: true; value: Converted } | { ok: false; field?: string; message: string };

/** Thrown inside a converter; caught by convertRow and turned into a bad row. */
export class RowError extends Error {
  constructor(
    readonly field: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export function str(
  row: Record<string, unknown>,
  key: string,
  opts: { optional: boolean },
): string | undefined {
  const v = row[key];
  if (v === undefined || v === null) {
    if (opts.optional) return undefined;
    throw new RowError(key, `missing (columns: ${Object.keys(row).join(", ") || "none"})`);
  }
  if (typeof v !== "string") throw new RowError(key, `expected a string, got ${kindOf(v)}`);
  return v;
}

export function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return `a ${typeof v}`;
}
