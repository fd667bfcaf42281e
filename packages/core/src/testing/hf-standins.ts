// Stand-ins for hub models in a temporary Hugging Face cache: the real architecture's config.json (so
// parameter counts and memory are the real ones) with the small stories260K tokenizer and a chatml template.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./fixtures.ts";

export const chatml =
  "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Real architectures (from the models' config.json), so parameter counts and memory are the real ones. */
export const standIns: Record<string, Record<string, unknown>> = {
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

/** Creates the stand-in cache and returns its folder (use it as $HF_HUB_CACHE). */
export function makeHfStandInCache(): string {
  const cache = mkdtempSync(join(tmpdir(), "sft-hf-standins-"));
  const stories = join(repoRoot, "examples/models/stories260K");
  for (const [id, config] of Object.entries(standIns)) {
    const repo = join(cache, `models--${id.replace("/", "--")}`);
    const snap = join(repo, "snapshots", "standin");
    mkdirSync(snap, { recursive: true });
    mkdirSync(join(repo, "refs"), { recursive: true });
    writeFileSync(join(repo, "refs", "main"), "standin");
    writeFileSync(join(snap, "config.json"), JSON.stringify(config));
    const tokenizer = JSON.parse(readFileSync(join(stories, "tokenizer.json"), "utf8"));
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
    copyFileSync(join(stories, "special_tokens_map.json"), join(snap, "special_tokens_map.json"));
  }
  return cache;
}

/** Runs `fn` with $HF_HUB_CACHE pointing at `cache`, restoring it after. */
export async function withHubCache<T>(cache: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.HF_HUB_CACHE;
  process.env.HF_HUB_CACHE = cache;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.HF_HUB_CACHE;
    else process.env.HF_HUB_CACHE = saved;
  }
}
