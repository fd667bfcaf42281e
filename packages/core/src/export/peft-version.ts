// The oldest PEFT that loads an adapter folder as we write it, from what the folder uses. Checked against
// huggingface/peft's history (commits named below; release tags that first contain them).

export interface PeftFeatures {
  /** adapter_config.json's peft_type. */
  peftType: "LORA" | "PREFIX_TUNING";
  /** Trainable token rows (`trainable_token_indices`): none, the embedding only (tied), or both tables. */
  tokens: "none" | "tied" | "untied";
  /** Grouped-query attention (a prefix sized by the kv heads). */
  gqa: boolean;
}

export interface PeftRequirement {
  version: string;
  /** Why, in a few words (shown in the adapter's README). */
  reason: string;
}

/** PEFT >= 0.14 drops unknown adapter_config keys with a warning; older versions raise a TypeError. */
export const PEFT_IGNORES_UNKNOWN_KEYS = "0.14.0";

export function minPeftVersion(f: PeftFeatures): PeftRequirement {
  if (f.peftType === "PREFIX_TUNING")
    // 6472061a769166797dfae0bea0e5b76d858889e0 (#1901, v0.12.0): prefixes sized by the kv heads.
    return f.gqa
      ? { version: "0.12.0", reason: "prefix tuning with grouped-query attention" }
      : { version: "0.9.0", reason: "prefix tuning" };
  if (f.tokens === "untied")
    // fff52ab784d21c5bece574834e6ffc270d3f0c74 (#2863, v0.18.0): before it, TrainableTokensLayer read
    // `embedding_dim`, which the lm_head (an nn.Linear) lacks, so `{"lm_head": [...]}` raised on load.
    return { version: "0.18.0", reason: "new token rows in the embedding and the untied lm_head" };
  if (f.tokens === "tied")
    // f51203f3e4d8b3856596d3296dae7180f15910c1 (#2376) added trainable_token_indices and
    // 461f6426ef1b6cb88bdc7d3e6f4c2e59ccf97f67 (#2399) the tied lm_head, both first in v0.15.0. 0.14 drops
    // the key with a warning and ignores the delta tensors; 0.13 and older raise on the unknown key.
    return { version: "0.15.0", reason: "new token rows through `trainable_token_indices`" };
  // 096fe537370cf8a2cb55cc9bd05c7812ca919405 (#1474, v0.9.0) added `use_dora`, the newest key we write.
  return { version: "0.9.0", reason: "LoRA" };
}

const parts = (v: string) => v.split(".").map(Number);

/** a >= b for plain x.y.z versions. */
export function versionAtLeast(a: string, b: string): boolean {
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}
