// Partial fine-tuning: chosen decoder layers, parameter-name patterns, the embedding and/or lm_head train whole.
import { z } from "zod";
import type { ModelConfig } from "../model/config.ts";
import type { CustomIssueParams } from "../recipe/catalogue.ts";
import { nonNegativeInt, positiveInt } from "../recipe/schema/common.ts";
import type { MethodDefinition, MethodProblem, TensorRef, WholeTensors } from "./definition.ts";

export const partialSchema = z
  .strictObject({
    kind: z.literal("partial").describe("Only the selected layers and/or modules train."),
    lastLayers: positiveInt().optional().describe("Train the last N decoder layers."),
    layerRanges: z
      .array(z.tuple([nonNegativeInt(), positiveInt()]))
      .optional()
      .describe("Train decoder layers in [start, end) ranges."),
    modules: z
      .array(z.string().min(1))
      .optional()
      .describe("Regular expressions over HF parameter names (e.g. `mlp\\.`, `norm`); matches train."),
    embeddings: z.boolean().default(false).describe("Also train the input embedding."),
    lmHead: z.boolean().default(false).describe("Also train lm_head (or the tied embedding)."),
  })
  .superRefine((m, ctx) => {
    if (
      m.lastLayers === undefined &&
      m.layerRanges === undefined &&
      m.modules === undefined &&
      !m.embeddings &&
      !m.lmHead
    ) {
      ctx.addIssue({
        code: "custom",
        message: "a partial method selects nothing to train",
        params: {
          hint: "set `lastLayers`, `layerRanges` or `modules`",
          code: "sft/partial-empty",
        } satisfies CustomIssueParams,
      });
    }
    m.layerRanges?.forEach(([start, end], i) => {
      if (end <= start)
        ctx.addIssue({
          code: "custom",
          path: ["layerRanges", i],
          message: `empty layer range [${start}, ${end})`,
        });
    });
    m.modules?.forEach((pattern, i) => {
      try {
        new RegExp(pattern);
      } catch (e) {
        ctx.addIssue({
          code: "custom",
          path: ["modules", i],
          message: `not a regular expression: ${(e as Error).message}`,
        });
      }
    });
  });
export type PartialMethod = z.output<typeof partialSchema>;

/** The layers a `partial` method trains (lastLayers and layerRanges), ascending. */
export function selectedLayers(
  method: { lastLayers?: number | undefined; layerRanges?: [number, number][] | undefined },
  numLayers: number,
): number[] {
  const layers = new Set<number>();
  if (method.lastLayers !== undefined)
    for (let i = Math.max(0, numLayers - method.lastLayers); i < numLayers; i++) layers.add(i);
  for (const [a, b] of method.layerRanges ?? [])
    for (let i = a; i < Math.min(b, numLayers); i++) layers.add(i);
  return [...layers].sort((x, y) => x - y);
}

/** Layer selections past the model's layers would train fewer layers than asked, without a word. */
function checkModel(m: PartialMethod, cfg: ModelConfig): MethodProblem[] {
  const n = cfg.numLayers;
  const problems: MethodProblem[] = [];
  const hint = `the model has ${n} decoder layers, numbered 0-${n - 1}`;
  if (m.lastLayers !== undefined && m.lastLayers > n)
    problems.push({
      severity: "error",
      code: "sft/layers-out-of-range",
      path: ["method", "lastLayers"],
      message: `lastLayers: ${m.lastLayers} asks for more layers than the model has (${n})`,
      hint: `${hint}; lastLayers: ${n} trains them all`,
    });
  m.layerRanges?.forEach(([start, end], i) => {
    if (end > n)
      problems.push({
        severity: "error",
        code: "sft/layers-out-of-range",
        path: ["method", "layerRanges", i],
        message: `layer range [${start}, ${end}) reaches past the model's ${n} layers`,
        hint: `${hint}; a range ends at ${n} at most`,
      });
  });
  return problems;
}

function trainsTensor(m: PartialMethod, t: TensorRef, cfg: ModelConfig): boolean {
  if (t.kind === "embedding") return m.embeddings || (m.lmHead && cfg.tieWordEmbeddings);
  if (t.kind === "lm_head") return m.lmHead;
  if (t.layer !== null && selectedLayers(m, cfg.numLayers).includes(t.layer)) return true;
  return (m.modules ?? []).some((p) => new RegExp(p).test(t.name));
}

function wholeTensors(m: PartialMethod, numLayers: number, tied: boolean): WholeTensors {
  return {
    layers: selectedLayers(m, numLayers),
    modules: [...(m.modules ?? [])],
    embedding: m.embeddings || (m.lmHead && tied),
    lmHead: m.lmHead && !tied,
    norms: false,
  };
}

export const partial: MethodDefinition<PartialMethod> = {
  kind: "partial",
  schema: partialSchema,
  label: "Partial fine-tuning",
  adapter: null,
  mergeable: true,
  defaultLearningRate: 2e-5,
  learningRates: "full",
  trainsTensor,
  checkModel,
  newTokenRows: () => false,
  addedRowsLearn: (m) => m.embeddings,
  addedRowsHint: "set method.embeddings: true",
  quantizedBase: () => null,
  addedParameters: () => [],
  memory: () => ({ prefixLength: 0, frozenLinears: false, adapters: null, headTrains: () => true }),
  pieces: () => ({}),
  exports: {
    trl: (m, f) => ({ usesPeft: false, wholeTensors: wholeTensors(m, f.numLayers, f.tied), notes: [] }),
    axolotl: (m, f) => ({
      fields: {},
      wholeTensors: wholeTensors(m, f.numLayers, f.tied),
      notes: [],
      header: [],
    }),
  },
};
