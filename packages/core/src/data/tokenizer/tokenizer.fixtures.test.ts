// Ids on the real fixture tokenizers, against evidence produced by Hugging Face tokenizers elsewhere.
import { readFileSync } from "node:fs";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import { fixture, hasSharedFixtures, sharedFixturesSkipReason } from "../../testing/fixtures.ts";
import { IGNORE_INDEX } from "../types.ts";
import { loadTokenizer, type Tokenizer } from "./tokenizer.ts";

const tok = (name: string) => loadTokenizer(fixture("tokenizers", name));

/**
 * Axolotl's fixtures were tokenized turn by turn by HF tokenizers (Llama-2 vocab): every maximal run of
 * tokens with the same trained/masked state between BOS/EOS ids is one encode() of one piece of text.
 * Re-encoding the decoded piece must give the same ids.
 */
function pieces(ids: number[], labels: number[]): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  let curTrained = false;
  ids.forEach((id, i) => {
    const trained = labels[i] !== IGNORE_INDEX;
    if (id <= 2 || trained !== curTrained) {
      if (cur.length) out.push(cur);
      cur = [];
      curTrained = trained;
      if (id <= 2) return;
    }
    cur.push(id);
  });
  if (cur.length) out.push(cur);
  return out;
}

describe.skipIf(!hasSharedFixtures)(
  `fixture tokenizers${hasSharedFixtures ? "" : ` (${sharedFixturesSkipReason})`}`,
  () => {
    it("stories260K: prompt ids equal reference_outputs.json (computed with HF transformers)", async () => {
      const dir = fixture("models", "stories260K", "hf-derived");
      const ref = JSON.parse(readFileSync(`${dir}/reference_outputs.json`, "utf8")) as {
        prompt: string;
        prompt_ids_with_bos: number[];
      };
      const t = await loadTokenizer(dir);
      expect(t.encode(ref.prompt)).toEqual(ref.prompt_ids_with_bos);
      expect(t.vocabSize).toBe(512);
    });

    for (const file of ["conversation.tokenized.json", "conversation.tokenized_llama2chat.json"]) {
      it(`llama-2: every piece of axolotl's ${file} re-encodes to the same ids`, async () => {
        const t = await tok("llama-2");
        const d = JSON.parse(readFileSync(fixture("datasets", "axolotl-fixtures", file), "utf8")) as {
          input_ids: number[];
          labels: number[];
        };
        const ps = pieces(d.input_ids, d.labels);
        expect(ps.length).toBeGreaterThan(10);
        for (const p of ps) {
          // The Strip decoder drops one leading space that the Prepend normalizer adds back.
          expect(t.encode(t.decode(p), { addSpecialTokens: false })).toEqual(p);
        }
      });
    }

    it("llama-2: special tokens, BOS post-processing and vocab", async () => {
      const t = await tok("llama-2");
      expect([t.bosToken, t.eosToken, t.unkToken, t.padToken]).toEqual(["<s>", "</s>", "<unk>", null]);
      expect([t.bosTokenId, t.eosTokenId, t.unkTokenId]).toEqual([1, 2, 0]);
      expect(t.vocabSize).toBe(32000);
      // "▁Hello" = 15043 and "▁world" = 3186 as in the axolotl fixture's pieces.
      expect(t.encode("Hello world")).toEqual([1, 15043, 3186]);
      expect(t.decode([1, 15043, 3186], { skipSpecialTokens: true })).toBe("Hello world");
    });

    it("phi-3-mini shares Llama-2's SentencePiece ids and has its chat tokens", async () => {
      const t = await tok("phi-3-mini");
      expect(t.encode("Hello world")).toEqual([15043, 3186]);
      expect(["<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>"].map((s) => t.tokenToId(s))).toEqual([
        32010, 32001, 32007, 32000,
      ]);
      expect(t.eosToken).toBe("<|endoftext|>");
      expect(t.chatTemplate).toContain("<|assistant|>");
    });

    it("phi-2: GPT-2 byte-level ids", async () => {
      const t = await tok("phi-2");
      // GPT-2's well-known ids: "Hello" 15496, "Ġworld" 995, <|endoftext|> 50256.
      expect(t.encode("Hello world")).toEqual([15496, 995]);
      expect(t.encode("<|endoftext|>")).toEqual([50256]);
      expect(t.decode(t.encode("  indented\n\tcode() {}"))).toBe("  indented\n\tcode() {}");
    });

    it("chatglm3: the post-processor prefix [gMASK] <sop>", async () => {
      const t = await tok("chatglm3");
      const ids = t.encode("Hello");
      expect(ids.slice(0, 2)).toEqual([64790, 64792]);
      expect(t.decode(ids, { skipSpecialTokens: true }).trim()).toBe("Hello");
    });

    for (const name of ["llama-2", "phi-3-mini", "chatglm3"]) {
      it(`${name}: splitting at "▁word" starts (our speed-up) gives the library's whole-text ids`, async () => {
        const dir = fixture("tokenizers", name);
        const raw = new HfTokenizer(
          JSON.parse(readFileSync(`${dir}/tokenizer.json`, "utf8")),
          JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, "utf8")),
        );
        const t = await loadTokenizer(dir);
        const rows = JSON.parse(
          readFileSync(fixture("datasets", "llama-factory", "alpaca_zh_demo.json"), "utf8"),
        ) as { instruction: string; output: string }[];
        const texts = [
          "  leading  and   double spaces\n\n\tindent\u00a0nbsp  ",
          "code:\n    def f(x):\n        return x  # ok\n",
          "emoji 🌍🚀 and accents déjà vu, 中文 日本語 한국어",
          ...rows.slice(0, 60).map((r) => `${r.instruction}\n${r.output}`),
        ];
        for (const x of texts)
          expect(t.encode(x, { addSpecialTokens: false })).toEqual(
            raw.encode(x, { add_special_tokens: false }).ids,
          );
      });
    }

    const text = "<s>[INST] Hi there, 世界! 🌍 [/INST] ok </s>\n\n<|user|>\n  x\ty";
    for (const name of ["llama-2", "phi-2", "phi-3-mini", "chatglm3"]) {
      it(`${name}: offsets cover the text in order and ids equal encode()`, async () => {
        const t: Tokenizer = await tok(name);
        const { ids, offsets } = t.encodeWithOffsets(text, { addSpecialTokens: false });
        expect(ids).toEqual(t.encode(text, { addSpecialTokens: false }));
        // Starts and ends never go back (byte tokens of one character share its range).
        let [prevA, prevB] = [0, 0];
        for (const [a, b] of offsets) {
          expect(a).toBeGreaterThanOrEqual(prevA);
          expect(b).toBeGreaterThanOrEqual(Math.max(a, prevB));
          [prevA, prevB] = [a, b];
        }
        expect(prevB).toBe(text.length);
      });
    }
  },
);

describe.skipIf(!hasSharedFixtures)(`decodeAsWritten (${sharedFixturesSkipReason})`, () => {
  it("gives back the text with special tokens as written, legacy SentencePiece and byte-level alike", async () => {
    const cases: [string, string][] = [
      ["llama-2", "<s>[INST] Hi there [/INST] Hello!</s><s>[INST]Next</s>"],
      // (phi-3's added tokens swallow the whitespace after them: none here)
      ["phi-3-mini", "<|user|>Hi there<|end|><|assistant|>Hello!<|end|>"],
      ["phi-2", "<|endoftext|>User: Hi there\nAssistant: Hello!<|endoftext|>"],
    ];
    for (const [name, text] of cases) {
      const t = await tok(name);
      const ids = t.encode(text, { addSpecialTokens: false });
      expect(t.decodeAsWritten(ids), name).toBe(text);
    }
  });
});
