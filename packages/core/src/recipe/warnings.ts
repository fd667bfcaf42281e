// The acknowledgeable codes of the diagnostic catalogue (recipe/catalogue.ts), by kind: warnings, and the errors
// a recipe may accept by listing their code in `acknowledge` (then reported as acknowledged warnings).
import {
  type AcknowledgeableErrorId,
  type AcknowledgeableId,
  diagnosticCatalogue,
  diagnosticCodes,
  type WarningId,
} from "./catalogue.ts";

export type { AcknowledgeableId, WarningId };

function summariesOf<C extends string>(codes: readonly C[]): Record<C, string> {
  return Object.fromEntries(
    codes.map((code) => [code, diagnosticCatalogue[code as keyof typeof diagnosticCatalogue].summary]),
  ) as Record<C, string>;
}

export const warningIdList = diagnosticCodes.filter(
  (code): code is WarningId => diagnosticCatalogue[code].severity === "warning",
) as [WarningId, ...WarningId[]];

/** Each warning's one-line summary (the default message). */
export const warningIds: Readonly<Record<WarningId, string>> = summariesOf(warningIdList);

const acknowledgeableErrorIdList = diagnosticCodes.filter(
  (code): code is AcknowledgeableErrorId =>
    "acknowledgeable" in diagnosticCatalogue[code] && diagnosticCatalogue[code].severity === "error",
);

export const acknowledgeableErrorIds: Readonly<Record<AcknowledgeableErrorId, string>> =
  summariesOf(acknowledgeableErrorIdList);

export const acknowledgeableIdList = [...warningIdList, ...acknowledgeableErrorIdList] as [
  AcknowledgeableId,
  ...AcknowledgeableId[],
];
