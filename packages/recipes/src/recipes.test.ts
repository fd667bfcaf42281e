// Every shipped recipe compiles, and its plan is snapshot-tested. Hub models are replaced by stand-ins in a
// temporary Hugging Face cache: the real architecture's config.json with the small stories tokenizer.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { compileRecipe } from "@sftkit/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stories260K } from "./paths.ts";

const here = import.meta.dirname;
const recipeFiles = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => readdirSync(join(here, d.name)).map((f) => join(d.name, f)))
  .filter((f) => /^[^/]+\/[\w.]+_\w+\.ts$/.test(f) && !f.endsWith(".test.ts"));

const chatml =
  "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Real architectures (from the models' config.json), so parameter counts and memory are the real ones. */
const standIns: Record<string, Record<string, unknown>> = {
  "HuggingFaceTB/SmolLM2-135M-Instruct": {
    model_type: "llama",
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    vocab_size: 49152,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 100000,
    tie_word_embeddings: true,
    torch_dtype: "bfloat16",
  },
  "Qwen/Qwen2.5-0.5B-Instruct": {
    model_type: "qwen2",
    hidden_size: 896,
    intermediate_size: 4864,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    vocab_size: 151936,
    max_position_embeddings: 32768,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    tie_word_embeddings: true,
    torch_dtype: "bfloat16",
  },
};

let cache: string;
let savedCache: string | undefined;

beforeAll(() => {
  cache = mkdtempSync(join(tmpdir(), "sft-recipes-hf-"));
  for (const [id, config] of Object.entries(standIns)) {
    const snap = join(cache, `models--${id.replace("/", "--")}`, "snapshots", "standin");
    mkdirSync(snap, { recursive: true });
    mkdirSync(join(cache, `models--${id.replace("/", "--")}`, "refs"), { recursive: true });
    writeFileSync(join(cache, `models--${id.replace("/", "--")}`, "refs", "main"), "standin");
    writeFileSync(join(snap, "config.json"), JSON.stringify(config));
    const tokenizer = JSON.parse(readFileSync(join(stories260K, "tokenizer.json"), "utf8"));
    tokenizer.added_tokens.push(
      {
        id: 512,
        content: "<|im_start|>",
        special: true,
        normalized: false,
        lstrip: false,
        rstrip: false,
        single_word: false,
      },
      {
        id: 513,
        content: "<|im_end|>",
        special: true,
        normalized: false,
        lstrip: false,
        rstrip: false,
        single_word: false,
      },
    );
    writeFileSync(join(snap, "tokenizer.json"), JSON.stringify(tokenizer));
    writeFileSync(
      join(snap, "tokenizer_config.json"),
      JSON.stringify({
        bos_token: null,
        eos_token: "<|im_end|>",
        pad_token: "<|im_end|>",
        chat_template: chatml,
      }),
    );
    copyFileSync(join(stories260K, "special_tokens_map.json"), join(snap, "special_tokens_map.json"));
  }
  savedCache = process.env.HF_HUB_CACHE;
  process.env.HF_HUB_CACHE = cache;
});

afterAll(() => {
  if (savedCache === undefined) delete process.env.HF_HUB_CACHE;
  else process.env.HF_HUB_CACHE = savedCache;
});

const repo = join(here, "../../..");
function normalise(value: unknown): unknown {
  const p = JSON.parse(JSON.stringify(value).replaceAll(cache, "<hf-cache>").replaceAll(repo, "<repo>"));
  p.backend = { requested: p.backend.requested };
  p.memory.device = "<device>";
  p.memory.fits = "<fits>";
  p.data.cache = "<cache>";
  p.kernels = "<per backend>";
  return p;
}

describe("shipped recipes", () => {
  it("are laid out as <family>/<size>_<method>.ts", () => {
    expect(recipeFiles).toEqual(
      expect.arrayContaining(["smollm2/135m_lora.ts", "qwen2.5/0.5b_qlora.ts", "stories/260k_full.ts"]),
    );
  });

  for (const file of recipeFiles) {
    it(`${file} compiles`, async () => {
      const result = await compileRecipe(join(here, file), { write: false });
      expect(result.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      expect(relative(here, result.plan!.recipe.file!)).toBe(file);
      expect(normalise(result.plan)).toMatchSnapshot();
    });
  }

  it("the real architectures give the real parameter counts", async () => {
    const smol = await compileRecipe(join(here, "smollm2/135m_lora.ts"), { write: false });
    expect(smol.plan!.model.parameters).toBe(134_515_008);
    const qwen = await compileRecipe(join(here, "qwen2.5/0.5b_qlora.ts"), { write: false });
    expect(qwen.plan!.model.parameters).toBe(494_032_768);
    expect(qwen.plan!.parameters.quantized).toBeGreaterThan(300_000_000);
  });
});
