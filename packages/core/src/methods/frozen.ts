// A frozen backbone with named extras training: new token rows (PEFT trainable tokens), lm_head, norms.
import { z } from "zod";
import { closest } from "../recipe/suggest.ts";
import type { ExportNote, MethodDefinition, MethodProblem, TrlMapping, WholeTensors } from "./definition.ts";

export const frozenSchema = z.strictObject({
  kind: z.literal("frozen").describe("The backbone is frozen; only the named extras train."),
  trainable: z
    .strictObject({
      newTokens: z
        .union([z.boolean(), z.array(z.string().min(1))])
        .default(true)
        .describe(
          "Rows of newly added tokens (all, or by name); the other rows stay fixed, as PEFT's trainable tokens.",
        ),
      lmHead: z.boolean().default(false).describe("Train lm_head."),
      norms: z.boolean().default(false).describe("Train the RMSNorm weights."),
    })
    .prefault({})
    .describe("What trains on top of the frozen backbone."),
});
export type FrozenMethod = z.output<typeof frozenSchema>;

function check(m: FrozenMethod, added: readonly string[]): MethodProblem[] {
  const out: MethodProblem[] = [];
  const { newTokens, lmHead, norms } = m.trainable;
  if (Array.isArray(newTokens)) {
    newTokens.forEach((name, i) => {
      if (!added.includes(name)) {
        const guess = closest(name, [...added]);
        out.push({
          severity: "error",
          path: ["method", "trainable", "newTokens", i],
          code: "sft/unknown-token",
          message: `\`${name}\` is not a token this recipe adds`,
          hint: guess ? `did you mean \`${guess}\`?` : "list tokens from tokens.add",
        });
      }
    });
  }
  const trainsTokens =
    newTokens === true ? added.length > 0 : Array.isArray(newTokens) && newTokens.length > 0;
  if (!trainsTokens && !lmHead && !norms) {
    out.push({
      severity: "error",
      path: ["method", "trainable"],
      code: "sft/nothing-trains",
      message: "a frozen method with nothing trainable: no new tokens, lm_head or norms",
      hint:
        added.length === 0
          ? "add tokens in tokens.add, or set lmHead/norms to true"
          : "set newTokens, lmHead or norms",
    });
  }
  return out;
}

/** Whole tensors besides the new rows: lm_head names the lm_head tensor, which a tied model lacks. */
function wholeTensors(m: FrozenMethod, tied: boolean): WholeTensors {
  const t = m.trainable;
  return { layers: [], modules: [], embedding: false, lmHead: t.lmHead && !tied, norms: t.norms };
}

function trl(m: FrozenMethod, f: Parameters<MethodDefinition["exports"]["trl"]>[1]): TrlMapping {
  const t = m.trainable;
  const ids = f.newTokenIds;
  // Only the new rows train: PEFT's trainable tokens, exactly, in both tables when lm_head is untied.
  if (!(t.lmHead && !f.tied) && !t.norms && ids.length > 0)
    return {
      usesPeft: true,
      peft: {
        class: "TrainableTokensConfig",
        kwargs: {
          target_modules: f.tied ? ["embed_tokens"] : ["embed_tokens", "lm_head"],
          token_indices: ids,
        },
      },
      notes: [],
    };
  // Regexes cannot pick rows: with new rows training, the whole embedding (and an untied lm_head) train.
  const selected = t.newTokens === true || (Array.isArray(t.newTokens) && t.newTokens.length > 0);
  const newRows = selected && f.anyNewTokens;
  const whole = wholeTensors(m, f.tied);
  const notes: ExportNote[] = [];
  if (ids.length > 0)
    notes.push({
      kind: "approximate",
      path: ["method", "trainable", "newTokens"],
      message: `with lmHead or norms also training, the whole embedding${f.tied ? "" : " and lm_head"} train (PEFT trainable tokens cannot be combined with them here)`,
    });
  return {
    usesPeft: false,
    wholeTensors: { ...whole, embedding: newRows, lmHead: (t.lmHead || newRows) && !f.tied },
    notes,
  };
}

export const frozen: MethodDefinition<FrozenMethod> = {
  kind: "frozen",
  schema: frozenSchema,
  label: "Frozen backbone",
  adapter: null,
  mergeable: true,
  defaultLearningRate: 1e-3,
  learningRates: "adapter",
  trainsTensor: (m, t) =>
    (t.kind === "lm_head" && m.trainable.lmHead) || (t.kind === "norm" && m.trainable.norms),
  newTokenRows: (m) => m.trainable.newTokens,
  addedRowsLearn: () => true,
  quantizedBase: () => null,
  addedParameters: () => [],
  // Counted as if the head trains (lmHead or new rows may).
  memory: () => ({ prefixLength: 0, frozenLinears: false, adapters: null, headTrains: () => true }),
  check,
  pieces: () => ({}),
  exports: {
    trl,
    axolotl: (m, f) => ({ fields: {}, wholeTensors: wholeTensors(m, f.tied), notes: [], header: [] }),
  },
};
