// Data pipeline bench: a fixture dataset repeated to 50k rows, prepared cold (tokenize) and again from the cache.
// Uses the real tokenizer (llama-2 vocabulary, Llama-2 style template) when ../shared/fixtures is present;
// otherwise synthetic rows and the byte-level fake encoder.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { planBatches } from "../packages/core/src/data/batch/index.ts";
import { fakeEncode, fakeEncodeCompletion } from "../packages/core/src/data/fake-encoder.ts";
import { tokenizeCompletion, tokenizeConversation } from "../packages/core/src/data/labels/index.ts";
import { type DataPipelineOptions, mixEpoch, prepareData } from "../packages/core/src/data/pipeline.ts";
import { loadTokenizer } from "../packages/core/src/data/tokenizer/index.ts";
import { SourceSchema } from "../packages/core/src/recipe/schema/data.ts";
import { fixture, hasSharedFixtures } from "../packages/core/src/testing/fixtures.ts";

const ROWS = 50_000;
const template =
  "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}" +
  "{% elif m['role'] == 'assistant' %}{{ ' ' + m['content'] + eos_token }}{% endif %}{% endfor %}";

async function encoders(): Promise<
  { name: string } & Pick<DataPipelineOptions, "encode" | "encodeCompletion">
> {
  if (!hasSharedFixtures)
    return { name: "byte-level fake encoder", encode: fakeEncode, encodeCompletion: fakeEncodeCompletion };
  const tokenizer = await loadTokenizer(fixture("tokenizers/llama-2"));
  return {
    name: "llama-2 tokenizer + labels",
    encode: (c) => tokenizeConversation(c, { tokenizer, template }),
    encodeCompletion: (t) => tokenizeCompletion(t, tokenizer),
  };
}

function baseRows(): Record<string, unknown>[] {
  if (hasSharedFixtures) {
    return JSON.parse(readFileSync(fixture("datasets/llama-factory/alpaca_en_demo.json"), "utf8")) as Record<
      string,
      unknown
    >[];
  }
  return Array.from({ length: 1000 }, (_, i) => ({
    instruction: `Question ${i}: ${"word ".repeat(10 + (i % 50))}`,
    output: `Answer ${i}: ${"text ".repeat(20 + (i % 200))}`,
  }));
}

export default async function (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "sft-data-bench-"));
  try {
    const base = baseRows();
    const lines: string[] = [];
    for (let i = 0; i < ROWS; i++) {
      const row = base[i % base.length]!;
      // Distinct rows (a repeat counter in the instruction) so nothing is a duplicate.
      lines.push(
        JSON.stringify({ ...row, instruction: `${row.instruction} (${Math.floor(i / base.length)})` }),
      );
    }
    writeFileSync(join(dir, "data.jsonl"), lines.join("\n"));
    const enc = await encoders();
    const opts: DataPipelineOptions = {
      baseDir: dir,
      sources: { bench: SourceSchema.parse({ path: "data.jsonl", format: "alpaca", eval: 0.01 }) },
      seed: 42,
      cacheDir: join(dir, "cache"),
      ...enc,
      cacheKeyExtra: enc.name,
      maxLength: 2048,
      overLength: "truncate",
    };
    // Only numbers survive the cold run, so the cached run does not pay for collecting its samples.
    const { coldS, r } = await (async () => {
      const t0 = performance.now();
      const cold = await prepareData(opts);
      return { coldS: (performance.now() - t0) / 1000, r: { ...cold.reports[0]! } };
    })();
    let t = performance.now();
    const warm = await prepareData(opts);
    const warmS = (performance.now() - t) / 1000;
    t = performance.now();
    const epoch = mixEpoch(warm, 0, 42);
    const schedule = planBatches(
      epoch.map((s) => s.inputIds.length),
      { mode: "bucket", tokensPerMicroBatch: 16384, seed: 42 },
    );
    const planS = (performance.now() - t) / 1000;
    const tokens = r.tokens + r.evalTokens;
    console.log(`data bench: ${ROWS} rows, ${enc.name}`);
    console.log(
      `  cold:   ${coldS.toFixed(2)} s  ${(ROWS / coldS).toFixed(0)} rows/s  ${(tokens / coldS).toFixed(0)} tokens/s`,
    );
    console.log(
      `  cached: ${warmS.toFixed(2)} s (cache hit: ${warm.cacheHit}); mix + batch schedule ${planS.toFixed(2)} s`,
    );
    console.log(
      `  ${tokens} tokens, ${r.trainedTokens} trained (train split), longest ${r.longest}; ` +
        `${schedule.summary.microBatches} micro-batches of ≤16384 tokens, padding ${(100 * schedule.summary.paddingFraction).toFixed(2)}%`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
