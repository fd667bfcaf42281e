// Which of a model's needs beyond the Llama decoder (beyondLlama's and decoderFeatures' words) the native
// engine computes, each tested equal to the tfjs engine's in families.test.ts. A need not listed (a
// feature added to the families later) is still refused.
const implemented = [
  "fused linears",
  "partial rotary",
  "longrope scaling",
  "sliding-window attention",
  "per-head q/k RMSNorm",
  "GeGLU (tanh GELU)",
  "(1 + weight) RMSNorm",
  "scaled embeddings",
  "post-attention and feed-forward norms",
  "query_pre_attn_scalar",
  "attention-logit soft-capping",
  "final-logit soft-capping",
  "a local RoPE base",
];

/** The needs of `needs` the native kernels do not implement. */
export function nativeMissingNeeds(needs: readonly string[]): string[] {
  return needs.filter((n) => !implemented.some((w) => n === w || n.startsWith(`${w} (`)));
}
