// Reads each source's rows again (before filters) and turns them into QualityRows for the detectors.
import { relative } from "node:path";
import {
  conversationOf,
  convertRow,
  lastAnswer,
  promptText,
  rowKeys,
  sampleText,
  trainedText,
} from "../formats/index.ts";
import type { SourceOutput } from "../formats/types.ts";
import { ReadError, readRows, resolveFiles } from "../readers/index.ts";
import type { RawRow } from "../types.ts";
import type { QualityRow } from "./types.ts";

/** Columns read as the row's own task label, in this order. */
const TASK_FIELDS = ["task", "category", "task_type", "type", "domain", "intent"];

const MAX_SKIPPED_SHOWN = 5;

export interface CollectedSource {
  name: string;
  rows: QualityRow[];
  /** Rows read, and those that could not be read or converted. */
  read: number;
  skipped: number;
  /** File-level failures and the first skipped rows, "file:line: message". */
  errors: string[];
}

export async function collectSources(
  baseDir: string,
  sources: Record<string, SourceOutput>,
): Promise<CollectedSource[]> {
  const out: CollectedSource[] = [];
  let nextId = 0;
  for (const [name, source] of Object.entries(sources)) {
    const got: CollectedSource = { name, rows: [], read: 0, skipped: 0, errors: [] };
    const resolved = await resolveFiles(baseDir, source.path);
    for (const m of resolved.missing) got.errors.push(`${m.pattern}: ${m.message}`);
    const keys = rowKeys(source);
    const place = (r: { file: string; line?: number; index: number }): string =>
      `${relative(baseDir, r.file) || r.file}${r.line !== undefined ? `:${r.line}` : `#row ${r.index}`}`;
    const skip = (message: string): void => {
      if (got.skipped++ < MAX_SKIPPED_SHOWN) got.errors.push(message);
    };
    for (const file of resolved.files) {
      const limit = (source.maxRows ?? Number.POSITIVE_INFINITY) - got.read;
      if (limit <= 0) break;
      try {
        for await (const item of readRows(file, source.fileType, { limit, rowKeys: keys })) {
          got.read++;
          let raw: RawRow;
          switch (item.kind) {
            case "bad":
              skip(`${place(item)}: ${item.message}`);
              continue;
            case "row":
              raw = item.row;
              break;
          }
          const conv = convertRow(raw.value, source);
          if (!conv.ok) {
            skip(`${place(raw)}: ${conv.field ? `field "${conv.field}": ` : ""}${conv.message}`);
            continue;
          }
          const c = conv.value;
          // Token ids carry no text to judge.
          switch (c.kind) {
            case "ids":
              got.skipped++;
              continue;
            case "chat":
            case "text":
              break;
          }
          const messages = conversationOf(c)?.messages;
          const row: QualityRow = {
            id: nextId++,
            source: name,
            file,
            index: raw.index,
            kind: c.kind,
            prompt: promptText(c),
            system: messages?.find((m) => m.role === "system")?.content ?? "",
            answer: trainedText(c),
            lastAnswer: lastAnswer(c),
            text: sampleText(c),
            turns: messages ? messages.filter((m) => m.role === "user").length : 1,
          };
          if (raw.line !== undefined) row.line = raw.line;
          if (messages?.some((m) => m.tool_calls?.length || m.content.includes("<tool_call>")))
            row.messages = messages;
          const task = taskOf(raw.value);
          if (task !== undefined) row.task = task;
          got.rows.push(row);
        }
      } catch (e) {
        const err = e instanceof ReadError ? e : new ReadError((e as Error).message, file);
        got.errors.push(
          `${relative(baseDir, err.file) || err.file}${err.line ? `:${err.line}` : ""}: ${err.message}`,
        );
      }
    }
    out.push(got);
  }
  return out;
}

function taskOf(raw: Record<string, unknown>): string | undefined {
  for (const k of TASK_FIELDS) {
    const v = raw[k];
    if (typeof v === "string" && v.trim() !== "" && v.length <= 60) return v.trim();
  }
  return undefined;
}
