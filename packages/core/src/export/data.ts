// The data as the compiler prepared it, back in row form: the realised mix of epoch 0 (and the eval split), each
// sample re-read from its origin file/row and converted again, so an engine can render it with the same template.
import { type Converted, convertRow, rowKeys, type SourceOutput } from "../data/formats/index.ts";
import { mixEpoch, type PreparedData } from "../data/pipeline.ts";
import { PROBES_SOURCE, probesSource } from "../data/probes.ts";
import { readRows } from "../data/readers/index.ts";
import type { TokenizedSample } from "../data/types.ts";
import type { Recipe } from "../recipe/schema/recipe.ts";

export interface ExportRow {
  sample: TokenizedSample;
  converted: Converted;
}

export interface ExportData {
  train: ExportRow[];
  eval: ExportRow[];
  /** Rows per source in the exported train mix (equals the pipeline's samplesPerEpoch). */
  perSource: Record<string, number>;
}

/** Thrown when an origin row cannot be found or converted again (the file changed since it was prepared). */
export class ExportDataError extends Error {}

export async function realiseData(recipe: Recipe, prepared: PreparedData): Promise<ExportData> {
  const train = mixEpoch(prepared, 0, recipe.data.seed);
  const evalSamples = prepared.reports.flatMap((r) => prepared.eval[r.name] ?? []);
  // Knowledge probes are a source the compiler adds; their rows live in the data cache.
  const sources: Record<string, SourceOutput> = recipe.probes
    ? { ...recipe.data.sources, [PROBES_SOURCE]: probesSource("") }
    : recipe.data.sources;
  const rows = await readOrigins([...train, ...evalSamples], sources);
  const toRow = (sample: TokenizedSample): ExportRow => {
    const source = sources[sample.source];
    const raw = rows.get(originKey(sample));
    if (!source || !raw)
      throw new ExportDataError(`${where(sample)}: row not found again (was the file changed?)`);
    const conv = convertRow(raw, source);
    if (!conv.ok) throw new ExportDataError(`${where(sample)}: ${conv.message}`);
    return { sample, converted: conv.value };
  };
  const perSource: Record<string, number> = {};
  for (const s of train) perSource[s.source] = (perSource[s.source] ?? 0) + 1;
  return { train: train.map(toRow), eval: evalSamples.map(toRow), perSource };
}

const originKey = (s: TokenizedSample) => `${s.origin.file}\u0000${s.origin.index}`;
const where = (s: TokenizedSample) =>
  `${s.origin.file}:${s.origin.line ?? `row ${s.origin.index}`} (source \`${s.source}\`)`;

/** Reads each needed file once, keeping only the rows samples point at. */
async function readOrigins(
  samples: TokenizedSample[],
  sources: Record<string, SourceOutput>,
): Promise<Map<string, Record<string, unknown>>> {
  const wanted = new Map<string, { source: SourceOutput; keys: Set<string> }>();
  for (const s of samples) {
    const source = sources[s.source];
    if (!source) continue;
    const entry = wanted.get(s.origin.file) ?? { source, keys: new Set<string>() };
    entry.keys.add(originKey(s));
    wanted.set(s.origin.file, entry);
  }
  const out = new Map<string, Record<string, unknown>>();
  for (const [file, { source, keys }] of wanted) {
    try {
      for await (const item of readRows(file, source.fileType, { rowKeys: rowKeys(source) })) {
        if (item.kind !== "row") continue;
        const key = `${file}\u0000${item.row.index}`;
        if (keys.has(key)) out.set(key, item.row.value);
      }
    } catch (e) {
      throw new ExportDataError(`${file}: cannot read it again: ${(e as Error).message}`);
    }
  }
  return out;
}
