// The exported dataset is the data pipeline's: same rows, same counts per source (the realised mix), same ids
// and trained tokens when sftkit renders the exported rows again.
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileRecipe } from "../compile/compile.ts";
import { tokenizeCompletion, tokenizeConversation } from "../data/labels/index.ts";
import { mixEpoch } from "../data/pipeline.ts";
import { IGNORE_INDEX, type Message, type TokenizedSample } from "../data/types.ts";
import { exportRecipe } from "./export.ts";
import { type Overrides, recipeFor, writeData } from "./testing.ts";

let data: ReturnType<typeof writeData>;
beforeAll(() => {
  data = writeData();
});
afterAll(() => rmSync(data.dir, { recursive: true, force: true }));

const readJsonl = (file: string): Record<string, unknown>[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const masks: Record<string, Overrides["train"]> = {
  "assistant turns, EOS each turn": { lossOn: "assistant", eos: "turn" },
  "last assistant turn, EOS last": { lossOn: "last", eos: "last" },
  "all tokens": { lossOn: "all", eos: "turn" },
};

async function pipeline(over: Overrides) {
  const compiled = await compileRecipe(recipeFor(data, over), { write: false });
  const { plan, resolved, data: stage } = compiled;
  if (!plan || !resolved?.tokenizer || !stage?.prepared) throw new Error("compile failed");
  const mix = mixEpoch(stage.prepared, 0, resolved.recipe.data.seed);
  const evalRows = stage.prepared.reports.flatMap((r) => stage.prepared?.eval[r.name] ?? []);
  return { plan, resolved, prepared: stage.prepared, mix, evalRows, tokenizer: resolved.tokenizer };
}

describe.each(Object.entries(masks))("exported rows (%s)", (_name, train) => {
  it("trl: the mix's ids and loss masks, row for row, in the pipeline's counts", async () => {
    const p = await pipeline({ train });
    const out = join(data.dir, `trl-${train?.lossOn}`);
    const r = await exportRecipe(recipeFor(data, { train }), { target: "trl", out });
    expect(r.ok).toBe(true);
    const rows = readJsonl(join(out, "data/train.jsonl"));
    expect(rows.length).toBe(p.plan.data.samplesPerEpoch);
    expect(rows.length).toBe(p.mix.length);
    rows.forEach((row, i) => {
      const s = p.mix[i] as TokenizedSample;
      expect(row.input_ids).toEqual(s.inputIds);
      expect(row.completion_mask).toEqual(s.labels.map((l) => (l === IGNORE_INDEX ? 0 : 1)));
    });
    expect(readJsonl(join(out, "data/eval.jsonl")).map((e) => e.input_ids)).toEqual(
      p.evalRows.map((s) => s.inputIds),
    );
    expect(r.counts.eval).toBe(p.plan.data.evalSamples);
  });

  it("axolotl: rows that render back to the same ids and labels; counts per source as reported", async () => {
    const p = await pipeline({ train });
    const out = join(data.dir, `axolotl-${train?.lossOn}`);
    const r = await exportRecipe(recipeFor(data, { train }), { target: "axolotl", out });
    expect(r.ok).toBe(true);
    for (const report of p.prepared.reports)
      expect(r.counts.perSource[report.name]).toBe(report.samplesPerEpoch);

    const chat = readJsonl(join(out, "data/train.chat.jsonl"));
    const text = readJsonl(join(out, "data/train.text.jsonl"));
    const expectedChat = p.mix.filter((s) => s.source === "chat");
    const expectedText = p.mix.filter((s) => s.source === "story");
    expect([chat.length, text.length]).toEqual([expectedChat.length, expectedText.length]);
    expect(chat.length + text.length).toBe(p.plan.data.samplesPerEpoch);

    const lossOn = train?.lossOn ?? "assistant";
    const eos = train?.eos ?? "turn";
    const template = p.resolved.template?.text ?? "";
    chat.forEach((row, i) => {
      // Axolotl's per-turn `training` flag is sftkit's `train`: with it, every-turn masking gives the same labels.
      const messages = (row.messages as (Message & { training?: boolean })[]).map(({ training, ...m }) =>
        training === false ? { ...m, train: false } : m,
      );
      const again = tokenizeConversation(
        { messages },
        { tokenizer: p.tokenizer, template, lossOn: lossOn === "last" ? "assistant" : lossOn, eos },
      );
      const s = expectedChat[i] as TokenizedSample;
      expect(again.inputIds).toEqual(s.inputIds);
      expect(again.labels).toEqual(s.labels);
    });
    text.forEach((row, i) => {
      const again = tokenizeCompletion(row.text as string, p.tokenizer, { eos });
      expect(again.inputIds).toEqual((expectedText[i] as TokenizedSample).inputIds);
    });
    const evalChat = readJsonl(join(out, "data/eval.chat.jsonl"));
    expect(evalChat.length).toBe(p.plan.data.evalSamples);
  });
});

describe("a `where` filter", () => {
  it("needs no diagnostic: the exported rows are already filtered", async () => {
    const where = (row: Record<string, unknown>) => !JSON.stringify(row).includes("Max");
    const out = join(data.dir, "where");
    const r = await exportRecipe(recipeFor(data, { where }), { target: "axolotl", out });
    expect(r.ok).toBe(true);
    expect(r.diagnostics.filter((d) => d.code.startsWith("sft/export"))).toEqual(
      r.diagnostics.filter((d) => d.code === "sft/export-approximate" && d.path[0] === "tokens"),
    );
    const text = readFileSync(join(out, "data/train.chat.jsonl"), "utf8");
    expect(text).not.toContain("Max");
    expect(text).toContain("Anna");
    const p = await pipeline({ where });
    expect(r.counts.perSource.chat).toBe(p.prepared.reports.find((x) => x.name === "chat")?.samplesPerEpoch);
  });
});
