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
  "sft/token-exists": "A token in `tokens.add` is already in the vocabulary; it keeps its id and embedding.",
} as const;

export type WarningId = keyof typeof warningIds;
export const warningIdList = Object.keys(warningIds) as [WarningId, ...WarningId[]];
