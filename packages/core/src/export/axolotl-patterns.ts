// Axolotl's `unfrozen_parameters` dialect. LayerNamePattern (src/axolotl/utils/freeze.py@4ef608dda31e) rewrites
// every `.` not followed by `+` to `\.` before re.match, so there a `.` is a literal dot, `\.` a literal backslash
// plus any character (it never matches a parameter name), and a trailing `[start:end]` limits the training to
// those rows of the tensor (a gradient hook zeroes the others).
import type { WholeTensors } from "../methods/definition.ts";

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
 * The `unfrozen_parameters` entries that train what sftkit trains for a method's whole tensors (HF Llama-family
 * names), and for the new tokens only their rows of the embedding (and of lm_head when untied).
 * `newTokenIds` are the ids Axolotl gives the trained new tokens.
 */
export function axolotlUnfrozenParameters(w: WholeTensors, tied: boolean, newTokenIds: number[]): string[] {
  const out: string[] = [];
  if (w.layers.length > 0) out.push(`^model.layers.(?:${w.layers.join("|")}).`);
  // sftkit tests module patterns anywhere in the name (RegExp.test), never on the embedding or lm_head;
  // `(?:.+)?` is Axolotl's spelling of `.*`.
  for (const p of w.modules) out.push(`^(?!model.embed_tokens.|lm_head.)(?:.+)?(?:${toAxolotlPattern(p)})`);
  if (w.norms) out.push("^model.(?:norm|layers.\\d+.(?:input_layernorm|post_attention_layernorm)).");
  if (w.embedding) out.push("^model.embed_tokens.");
  if (w.lmHead) out.push("^lm_head.");
  for (const range of runs(newTokenIds)) {
    if (!w.embedding) out.push(`^model.embed_tokens.weight$${rowRange(range)}`);
    if (!tied && !w.lmHead) out.push(`^lm_head.weight$${rowRange(range)}`);
  }
  return out;
}
