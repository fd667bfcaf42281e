import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SourceSchema } from "../recipe/schema/data.ts";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../testing/fixtures.ts";
import { planBatches } from "./batch/index.ts";
import { fakeEncode, fakeEncodeCompletion } from "./fake-encoder.ts";
import { type DatasetInfoEntry, fromDatasetInfo } from "./formats/index.ts";
import { mixEpoch, prepareData } from "./pipeline.ts";

const base = fixture("datasets");

describe.skipIf(!hasSharedFixtures)(
  hasSharedFixtures ? "prepareData on real datasets" : sharedFixturesSkipReason,
  () => {
    it("reads every format of the shared fixtures without a problem, and batches them with < 3% padding", async () => {
      const info = JSON.parse(
        readFileSync(fixture("datasets/llama-factory/dataset_info.json"), "utf8"),
      ) as Record<string, DatasetInfoEntry>;
      const fromInfo = (name: string) => {
        const r = fromDatasetInfo(info[name]!);
        if (!r.ok) throw new Error(r.reason);
        return { ...r.source, path: `llama-factory/${r.source.path as string}` };
      };
      const raw: Record<string, unknown> = {
        alpaca: fromInfo("alpaca_en_demo"),
        alpaca_zh: fromInfo("alpaca_zh_demo"),
        identity: fromInfo("identity"),
        glaive: fromInfo("glaive_toolcall_en_demo"),
        turkish: { path: "turkish-daily-dialogues-5k/*.parquet", format: "messages", eval: 0.02 },
        fashion: {
          path: "fashion-style-instruct",
          format: "alpaca",
          columns: { instruction: "input", output: "completion" },
          samples: 500,
        },
        c4: { path: "llama-factory/c4_demo.jsonl", format: "completion", weight: 0.5 },
        tokenized: { path: "axolotl-fixtures/conversation.tokenized.json", format: "tokenized" },
        axolotl: { path: "axolotl-fixtures/conversation.json", format: "sharegpt" },
        torchtune: { path: "torchtune-assets/chat_tiny.json", format: "sharegpt" },
        dolly: {
          path: "litgpt-fixtures/dolly.json",
          format: "alpaca",
          columns: { input: "context", output: "response" },
        },
        unsloth: { path: "unsloth/alpaca_unsloth.json", format: "alpaca" },
      };
      const sources = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, SourceSchema.parse(v)]));
      const p = await prepareData({
        baseDir: base,
        sources,
        seed: 42,
        cacheDir: null,
        encode: fakeEncode,
        encodeCompletion: fakeEncodeCompletion,
        cacheKeyExtra: "",
        maxLength: 4096,
        overLength: "truncate",
      });
      expect(p.problems).toEqual([]);
      const rows = Object.fromEntries(p.reports.map((r) => [r.name, r.rows]));
      expect(rows).toMatchObject({
        alpaca: 999,
        identity: 91,
        glaive: 300,
        turkish: 5000,
        fashion: 3193,
        c4: 300,
        tokenized: 1,
      });
      const epoch = mixEpoch(p, 0, 42);
      expect(epoch.filter((s) => s.source === "fashion")).toHaveLength(500);
      const schedule = planBatches(
        epoch.map((s) => s.inputIds.length),
        { mode: "bucket", tokensPerMicroBatch: 8192, seed: 42 },
      );
      expect(schedule.summary.samples).toBe(epoch.length);
      expect(schedule.summary.paddingFraction).toBeLessThan(0.03);
    });
  },
);
