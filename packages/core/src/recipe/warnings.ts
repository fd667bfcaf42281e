// Stable warning ids: docs and recipes' `acknowledge` lists refer to them, so never rename one.
export const warningIds = {
  "sft/eos-not-trained": "No end-of-turn/EOS token is trained, so the model never learns to stop.",
  "sft/truncation-cuts-eos": "overLength `truncate` cuts the end of long samples, EOS included.",
  "sft/no-eval-split": "No source holds out an eval split, so there is no eval loss.",
  "sft/new-tokens-untrained":
    "Added tokens keep their initial embedding because the method does not train their rows.",
  "sft/heavy-upsampling": "A source is repeated more than 3 times per epoch; the model may memorise it.",
  "sft/samples-dropped": "Samples longer than maxLength are dropped.",
  "sft/rows-skipped": "Rows that do not fit the format are skipped.",
  "sft/high-learning-rate": "The learning rate is high for this method.",
  "sft/memory-exceeds-device": "The memory estimate exceeds the memory of the chosen device.",
  "sft/slow-backend": "The chosen backend is a slow debugging fallback.",
  "sft/backend-deprecated":
    "`train.backend` is deprecated: name the engine and its backend in `train.engine`.",
  "sft/cache-unavailable": "The tokenized-data cache could not be read or written; data is tokenized anew.",
  "sft/export-approximate": "An export target can only approximate part of the recipe (see the message).",
  "sft/token-not-in-template":
    "A token in `tokens.add` is never written by the template nor found in the data, so it never trains.",
  "sft/token-exists": "A token in `tokens.add` is already in the vocabulary; it keeps its id and embedding.",
} as const;

export type WarningId = keyof typeof warningIds;
export const warningIdList = Object.keys(warningIds) as [WarningId, ...WarningId[]];

/**
 * Errors a recipe may accept by listing their id in `acknowledge`: they are then reported as acknowledged
 * warnings (kept in the plan, not printed). Stable like the warning ids.
 */
export const acknowledgeableErrorIds = {
  "sft/template-drops-feature":
    "The chat template renders nothing of a feature in the data (tool calls, tool definitions, a system message). Acknowledged, those rows train without it, and tool-call turns it drops stay out of the loss.",
} as const;

export type AcknowledgeableId = WarningId | keyof typeof acknowledgeableErrorIds;
export const acknowledgeableIdList = [...warningIdList, ...Object.keys(acknowledgeableErrorIds)] as [
  AcknowledgeableId,
  ...AcknowledgeableId[],
];
