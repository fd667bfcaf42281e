import { IGNORE_INDEX } from "../types.ts";
import { type ConvertResult, kindOf, RowError, type SourceFormatOptions } from "./types.ts";

/** Pre-tokenized rows: ids, and labels (-100 = masked) or none (all trained). */
export function convertTokenized(row: Record<string, unknown>, src: SourceFormatOptions): ConvertResult {
  const idsKey = src.columns?.inputIds ?? "input_ids";
  const labelsKey = src.columns?.labels ?? "labels";
  const inputIds = intList(row[idsKey], idsKey, false);
  if (inputIds.length === 0) throw new RowError(idsKey, "empty");
  const labels =
    row[labelsKey] === undefined || row[labelsKey] === null
      ? [...inputIds]
      : intList(row[labelsKey], labelsKey, true);
  if (labels.length !== inputIds.length) {
    throw new RowError(labelsKey, `has ${labels.length} entries but ${idsKey} has ${inputIds.length}`);
  }
  return { ok: true, value: { kind: "ids", inputIds, labels } };
}

function intList(v: unknown, key: string, allowIgnore: boolean): number[] {
  if (!Array.isArray(v)) throw new RowError(key, `expected a list of token ids, got ${kindOf(v)}`);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== "number" || !Number.isInteger(x) || (x < 0 && !(allowIgnore && x === IGNORE_INDEX))) {
      throw new RowError(
        `${key}[${i}]`,
        `expected a non-negative integer id${allowIgnore ? " or -100" : ""}, got ${JSON.stringify(x)}`,
      );
    }
  }
  return v as number[];
}
