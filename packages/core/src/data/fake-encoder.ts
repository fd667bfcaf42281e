// A deterministic byte-level stand-in for the real tokenizer + labels, for tests and benches of the pipeline.
import { type Conversation, IGNORE_INDEX } from "./types.ts";

const enc = new TextEncoder();
/** Ids are UTF-8 bytes + 3 (0-2 left for pad/bos/eos). */
const OFFSET = 3;

function push(ids: number[], labels: number[], text: string, trained: boolean): void {
  for (const b of enc.encode(text)) {
    ids.push(b + OFFSET);
    labels.push(trained ? b + OFFSET : IGNORE_INDEX);
  }
}

/** `role: content\n` per turn; assistant content (and its tool calls) trained unless `train: false`. */
export function fakeEncode(conv: Conversation): { inputIds: number[]; labels: number[] } {
  const ids: number[] = [1];
  const labels: number[] = [IGNORE_INDEX];
  for (const m of conv.messages) {
    push(ids, labels, `${m.role}: `, false);
    const trained = m.role === "assistant" && m.train !== false;
    push(ids, labels, m.content + (m.tool_calls ? JSON.stringify(m.tool_calls) : ""), trained);
    push(ids, labels, "\n", false);
    if (trained) {
      ids.push(2);
      labels.push(2);
    }
  }
  return { inputIds: ids, labels };
}

export function fakeEncodeCompletion(text: string): { inputIds: number[]; labels: number[] } {
  const ids: number[] = [1];
  const labels: number[] = [IGNORE_INDEX];
  push(ids, labels, text, true);
  ids.push(2);
  labels.push(2);
  return { inputIds: ids, labels };
}

export function fakeDecode(ids: number[]): string {
  return new TextDecoder().decode(Uint8Array.from(ids.filter((i) => i >= OFFSET).map((i) => i - OFFSET)));
}
