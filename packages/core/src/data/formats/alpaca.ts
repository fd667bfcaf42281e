import type { Message } from "../types.ts";
import { type ConvertResult, kindOf, RowError, type SourceFormatOptions, str } from "./types.ts";

/** LLaMA-Factory's alpaca: prompt = instruction + "\n" + input; optional system and [prompt, response] history. */
export function convertAlpaca(row: Record<string, unknown>, src: SourceFormatOptions): ConvertResult {
  const c = src.columns ?? {};
  const instructionKey = c.instruction ?? "instruction";
  const inputKey = c.input ?? "input";
  const outputKey = c.output ?? "output";
  const instruction = str(row, instructionKey, { optional: false }) ?? "";
  const input = str(row, inputKey, { optional: true }) ?? "";
  const output = str(row, outputKey, { optional: false }) ?? "";
  const system = str(row, c.system ?? "system", { optional: true });
  const messages: Message[] = [];
  if (system) messages.push({ role: "system", content: system });
  const historyKey = c.history ?? "history";
  const history = row[historyKey];
  if (history !== undefined && history !== null) {
    if (!Array.isArray(history))
      throw new RowError(historyKey, `expected a list of [prompt, response] pairs, got ${kindOf(history)}`);
    history.forEach((pair, i) => {
      if (
        !Array.isArray(pair) ||
        pair.length !== 2 ||
        typeof pair[0] !== "string" ||
        typeof pair[1] !== "string"
      ) {
        throw new RowError(`${historyKey}[${i}]`, "expected a [prompt, response] pair of strings");
      }
      messages.push({ role: "user", content: pair[0] }, { role: "assistant", content: pair[1] });
    });
  }
  messages.push({ role: "user", content: input ? `${instruction}\n${input}` : instruction });
  messages.push({ role: "assistant", content: output });
  return { ok: true, value: { kind: "chat", conversation: { messages } } };
}
