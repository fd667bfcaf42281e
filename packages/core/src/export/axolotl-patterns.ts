// Axolotl's `unfrozen_parameters` dialect. LayerNamePattern (src/axolotl/utils/freeze.py@4ef608dda31e) rewrites
// every `.` not followed by `+` to `\.` before re.match, so there a `.` is a literal dot, `\.` a literal backslash
// plus any character (it never matches a parameter name), and a trailing `[start:end]` limits the training to
// those rows of the tensor (a gradient hook zeroes the others).
import { selectedLayers } from "./common.ts";
import type { ExportContext } from "./types.ts";

/**
 * A regex (JS or Python syntax) rewritten so that, after Axolotl's escaping, it matches what it matched before:
 * `\.` becomes `.`, a wildcard `.` becomes `[^\n]` (a wildcard followed by `+` is left alone, as Axolotl does).
 */
export function toAxolotlPattern(regex: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < regex.length; i++) {
    const c = regex[i]!;
    const next = regex[i + 1];
    if (c === "\\" && next !== undefined) {
      // `\.+` survives Axolotl's rewrite untouched (literal dots); a lone `\.` must become `.` to stay literal.
      out += next === "." && regex[i + 2] !== "+" ? "." : c + next;
      i++;
    } else if (c === "[" && !inClass) {
      inClass = true;
      out += c;
    } else if (c === "]" && inClass) {
      inClass = false;
      out += c;
    } else if (c === "." && !inClass && next !== "+") out += "[^\\n]";
    else out += c;
  }
  return out;
}

/** Sorted ids as [start, end) runs. */
function runs(ids: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const id of [...new Set(ids)].sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    if (last && last[1] === id) last[1] = id + 1;
    else out.push([id, id + 1]);
  }
  return out;
}

const rowRange = ([a, b]: [number, number]) => (b === a + 1 ? `[${a}]` : `[${a}:${b}]`);

/**
 * The `unfrozen_parameters` entries that train what sftkit trains for a partial or frozen method (HF Llama-family
 * names): whole tensors, and for the new tokens only their rows of the embedding (and of lm_head when untied).
 * `newTokenIds` are the ids Axolotl gives the trained new tokens.
 */
export function axolotlUnfrozenParameters(ctx: ExportContext, newTokenIds: number[]): string[] {
  const { method } = ctx.recipe;
  const numLayers = ctx.plan.model.layers;
  const tied = ctx.plan.model.config.tieWordEmbeddings;
  const out: string[] = [];
  let embedding = false;
  let lmHead = false;
  if (method.kind === "partial") {
    const layers = selectedLayers(method, numLayers);
    if (layers.length > 0) out.push(`^model.layers.(?:${layers.join("|")}).`);
    // sftkit tests module patterns anywhere in the name (RegExp.test), never on the embedding or lm_head;
    // `(?:.+)?` is Axolotl's spelling of `.*`.
    for (const p of method.modules ?? [])
      out.push(`^(?!model.embed_tokens.|lm_head.)(?:.+)?(?:${toAxolotlPattern(p)})`);
    embedding = method.embeddings || (method.lmHead && tied);
    lmHead = method.lmHead && !tied;
  }
  if (method.kind === "frozen") {
    const t = method.trainable;
    // As sftkit's parameter plan (compile/params.ts): `lmHead` names the lm_head tensor, which a tied model lacks.
    lmHead = t.lmHead && !tied;
    if (t.norms) out.push("^model.(?:norm|layers.\\d+.(?:input_layernorm|post_attention_layernorm)).");
  }
  if (embedding) out.push("^model.embed_tokens.");
  if (lmHead) out.push("^lm_head.");
  for (const range of runs(newTokenIds)) {
    if (!embedding) out.push(`^model.embed_tokens.weight$${rowRange(range)}`);
    if (!tied && !lmHead) out.push(`^lm_head.weight$${rowRange(range)}`);
  }
  return out;
}
