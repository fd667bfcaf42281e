// Full fine-tuning: every parameter trains; the artefact is the merged model.
import { z } from "zod";
import type { MethodDefinition } from "./definition.ts";

export const fullSchema = z.strictObject({ kind: z.literal("full").describe("Every parameter trains.") });
export type FullMethod = z.output<typeof fullSchema>;

export const full: MethodDefinition<FullMethod> = {
  kind: "full",
  schema: fullSchema,
  label: "Full fine-tuning",
  adapter: null,
  mergeable: true,
  defaultLearningRate: 2e-5,
  learningRates: "full",
  trainsTensor: () => true,
  newTokenRows: () => false,
  addedRowsLearn: () => true,
  quantizedBase: () => null,
  addedParameters: () => [],
  memory: () => ({ prefixLength: 0, frozenLinears: false, adapters: null, headTrains: () => true }),
  pieces: () => ({}),
  exports: {
    // Every parameter trains by default in both targets.
    trl: () => ({ usesPeft: false, notes: [] }),
    axolotl: () => ({ fields: {}, notes: [], header: [] }),
  },
};
