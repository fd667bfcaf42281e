// The end token a recipe trains: what the template writes after each assistant turn must be ONE token of
// the tokenizer (after tokens.add and the bos/eos/pad overrides), and the declared EOS when the recipe
// declares one. A marker the tokenizer splits into plain pieces is never a stop token.
import {
  type EndOfTurnTokens,
  endOfTurnTokens,
  markerLike,
  renderProbeWithSystem,
} from "../data/labels/index.ts";
import { builtinTemplates } from "../data/template/builtins.ts";
import type { Tokenizer } from "../data/tokenizer/index.ts";
import type { Problem } from "../recipe/diagnostics.ts";
import type { Recipe } from "../recipe/schema/recipe.ts";

export interface EndTokenCheck {
  recipe: Recipe;
  tokenizer: Tokenizer;
  template: string;
  /** The built-in's name, when the template is one (named in messages, left out of the suggestions). */
  templateName: string | null;
  eot: EndOfTurnTokens;
  /** The EOS the recipe declares (tokens.eos), resolved to its content; null when it declares none. */
  declaredEos: string | null;
}

export function endTokenProblems(c: EndTokenCheck): Problem[] {
  const { eot, declaredEos, tokenizer } = c;
  const marker = eot.markers.find((m) => m !== null);
  if (marker === undefined || marker === null) return [];
  if (declaredEos !== null ? eot.token === declaredEos : eot.token !== null) return [];

  const split = eot.token === null;
  const pieces = (eot.ids.find((ids) => ids.length > 0) ?? []).map(
    (id) => tokenizer.idToToken(id) ?? `#${id}`,
  );
  const where = c.templateName ? `template \`${c.templateName}\`` : "the template";
  const splitNote = split
    ? `; this tokenizer has no token \`${marker}\` and splits it into ${pieces.length} plain pieces (${pieces.map((p) => `\`${p}\``).join(" ")})`
    : "";
  const message =
    declaredEos !== null
      ? `${where} ends assistant turns with \`${marker}\`, not the declared EOS \`${declaredEos}\`, so the EOS is never trained and the model never learns to stop${splitNote}`
      : `${where} ends assistant turns with \`${marker}\`, which is not one token, so no end token is trained and the model never learns to stop${splitNote}`;
  return [
    {
      severity: "error",
      code: "sft/eos-not-emitted",
      message,
      path: declaredEos !== null ? ["tokens", "eos"] : ["template"],
      hint: fixes(c, marker, split),
    },
  ];
}

/** The two ways out: train the template's own marker, or a built-in whose end marker is the wanted token. */
function fixes(c: EndTokenCheck, marker: string, split: boolean): string {
  const { recipe, tokenizer, declaredEos } = c;
  const added = recipe.tokens.add.map((t) => (typeof t === "string" ? t : t.content));
  let own: string;
  if (split) {
    // The template's other markers that are not tokens either (e.g. chatml's <|im_start|>).
    const missing = markerLike(renderedOrEmpty(c)).filter(
      (m) => tokenizer.tokenToId(m) === undefined && !added.includes(m),
    );
    const add = [...added, ...(missing.includes(marker) ? missing : [...missing, marker])];
    own = `add the template's marker and train it as the end token: tokens: { add: ${JSON.stringify(add)}, eos: ${JSON.stringify(marker)} }`;
  } else {
    own = `train the template's marker as the end token: tokens.eos: ${added.includes(marker) ? JSON.stringify(marker) : `{ vocab: ${JSON.stringify(marker)} }`}`;
  }
  const builtins = fittingBuiltins(c);
  const wanted = declaredEos !== null ? `with \`${declaredEos}\`` : "with one token of this tokenizer";
  const other = builtins.length
    ? `; or choose a built-in template that ends turns ${wanted}: ${builtins.join(", ")}`
    : `; or choose a template that ends assistant turns with ${declaredEos !== null ? `\`${declaredEos}\`` : "a token of this tokenizer"}`;
  return own + other;
}

function renderedOrEmpty(c: EndTokenCheck): string {
  try {
    return renderProbeWithSystem(c.template, c.tokenizer);
  } catch {
    return "";
  }
}

/** Built-ins (other than the recipe's) whose end marker is the declared EOS, or one token when none is declared. */
function fittingBuiltins(c: EndTokenCheck): string[] {
  const added = c.recipe.tokens.add.map((t) => (typeof t === "string" ? t : t.content));
  const found: { text: string; uses: number }[] = [];
  for (const [name, text] of Object.entries(builtinTemplates)) {
    if (name === c.templateName) continue;
    let eot: EndOfTurnTokens;
    let rendered: string;
    try {
      eot = endOfTurnTokens(text, c.tokenizer);
      rendered = renderProbeWithSystem(text, c.tokenizer);
    } catch {
      continue;
    }
    if (eot.token === null || (c.declaredEos !== null && eot.token !== c.declaredEos)) continue;
    const missing = markerLike(rendered).filter((m) => c.tokenizer.tokenToId(m) === undefined);
    found.push({
      text: `"${name}"${missing.length ? ` (add ${missing.map((m) => `\`${m}\``).join(", ")} too)` : ""}`,
      uses: added.filter((t) => rendered.includes(t)).length,
    });
  }
  // Those that write the recipe's own added tokens first.
  return found.sort((a, b) => b.uses - a.uses).map((f) => f.text);
}
