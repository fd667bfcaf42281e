// The pipeline with the real tokenizer and label masking (src/data/tokenizer, src/data/labels).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SourceSchema } from "../recipe/schema/data.ts";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../testing/fixtures.ts";
import { formatInspection, pickSamples } from "./inspect/index.ts";
import { tokenizeCompletion, tokenizeConversation } from "./labels/index.ts";
import { prepareData } from "./pipeline.ts";
import { loadTokenizer } from "./tokenizer/index.ts";
import { IGNORE_INDEX } from "./types.ts";

// stories260K ships no chat template: a Llama-2 style one whose assistant turns end with </s>.
const template =
  "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}" +
  "{% elif m['role'] == 'assistant' %}{{ ' ' + m['content'] + eos_token }}{% endif %}{% endfor %}";

describe.skipIf(!hasSharedFixtures)(
  hasSharedFixtures ? "prepareData with the real tokenizer" : sharedFixturesSkipReason,
  () => {
    it("tokenizes, masks prompts, caches, and renders the trained spans", async () => {
      const tokenizer = await loadTokenizer(fixture("models/stories260K/hf-derived"));
      const dir = mkdtempSync(join(tmpdir(), "sft-pipe-tok-"));
      writeFileSync(
        join(dir, "a.jsonl"),
        [
          { instruction: "Tell a story.", output: "Once upon a time there was a cat." },
          { instruction: "Say hi.", output: "Hi!" },
        ]
          .map((r) => JSON.stringify(r))
          .join("\n"),
      );
      const o = {
        baseDir: dir,
        sources: { a: SourceSchema.parse({ path: "a.jsonl", format: "alpaca" }) },
        seed: 1,
        cacheDir: join(dir, "cache"),
        encode: (c: Parameters<typeof tokenizeConversation>[0]) =>
          tokenizeConversation(c, { tokenizer, template }),
        encodeCompletion: (t: string) => tokenizeCompletion(t, tokenizer),
        cacheKeyExtra: "stories260K|llama2-style",
        maxLength: 256,
        overLength: "truncate" as const,
      };
      const p = await prepareData(o);
      expect(p.problems).toEqual([]);
      const s = p.train.a![0]!;
      expect(s.inputIds[0]).toBe(tokenizer.bosTokenId);
      const trained = s.inputIds.filter((_, i) => s.labels[i] !== IGNORE_INDEX);
      expect(tokenizer.decode(trained)).toMatch(/Once upon a time there was a cat\.\s*<\/s>$/);
      expect(tokenizer.decode(s.inputIds.filter((_, i) => s.labels[i] === IGNORE_INDEX))).toContain(
        "[INST] Tell a story.",
      );
      const text = formatInspection(pickSamples(p, 1), {
        n: 1,
        color: false,
        decode: (ids) => tokenizer.decode(ids),
        tokenText: (id) => tokenizer.idToToken(id) ?? "?",
      });
      expect(text).toMatch(/\[INST\] Tell a story\. \[\/INST\]\s*\[\[.*cat\..*\]\]/);
      const again = await prepareData(o);
      expect(again.cacheHit).toBe(true);
      expect(again.train).toEqual(p.train);
    });
  },
);
