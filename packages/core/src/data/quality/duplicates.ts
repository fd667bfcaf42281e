// Duplicates: exact (normalised text) and near (MinHash + LSH), within a source and across sources,
// and train/eval leakage in the prepared split.
import type { FiltersOutput } from "../formats/filters.ts";
import { LshIndex, signature } from "./minhash.ts";
import { FindingBuilder, whereOf } from "./refs.ts";
import { hash32, normalise } from "./text.ts";
import type { FilterRef, Finding, QualityRow } from "./types.ts";

export interface DuplicateResult {
  /** Per source: its findings (exact, near). */
  bySource: Map<string, Finding[]>;
  /** Across sources, and leakage: findings over the mix. */
  mix: Finding[];
}

/** Signatures are computed once per row and shared by all passes. */
export function duplicateFindings(opts: {
  rows: readonly QualityRow[];
  filters: Map<string, Partial<FiltersOutput>>;
  threshold: number;
  baseDir: string;
  /** Row ids in the prepared train and eval splits; leakage is skipped without them. */
  split?: { train: ReadonlySet<number>; eval: ReadonlySet<number> };
}): DuplicateResult {
  const { rows, threshold, baseDir } = opts;
  const sigs = rows.map((r) => signature(r.text));
  const keys = rows.map((r) => `${hash32(normalise(r.text))}:${hash32(normalise(r.text), 7)}`);
  const index = new LshIndex(threshold);
  const firstByKey = new Map<string, number>();
  const byId = new Map(rows.map((r, i) => [r.id, i]));
  const perSource = new Map<string, { exact: FindingBuilder; near: FindingBuilder; total: number }>();
  const builders = (source: string) => {
    let b = perSource.get(source);
    if (!b) {
      const dedupe = opts.filters.get(source)?.dedupe ?? false;
      const exactFilter: FilterRef = {
        name: "dedupe",
        active: dedupe !== false,
        setting: "filters: { dedupe: true }",
      };
      const nearFilter: FilterRef = {
        name: "dedupe",
        active: typeof dedupe === "object" && dedupe.threshold <= threshold,
        setting: `filters: { dedupe: { threshold: ${threshold} } }`,
      };
      const spec = { category: "duplicates" as const, source, severity: "warning" as const };
      b = {
        exact: new FindingBuilder(baseDir, {
          ...spec,
          id: "duplicates/exact",
          title: "Exact duplicate (normalised text)",
          filter: exactFilter,
        }),
        near: new FindingBuilder(baseDir, {
          ...spec,
          id: "duplicates/near",
          title: `Near-duplicate (Jaccard ≥ ${threshold})`,
          filter: nearFilter,
        }),
        total: 0,
      };
      perSource.set(source, b);
    }
    return b;
  };
  const across: FilterRef = {
    name: "where",
    active: false,
    setting: "dedupe acts within a source; drop the copies from one source with filters: { where }",
  };
  const crossExact = new FindingBuilder(baseDir, {
    id: "duplicates/cross-exact",
    category: "duplicates",
    title: "Exact duplicate of a row in another source",
    severity: "warning",
    source: null,
    filter: across,
  });
  const crossNear = new FindingBuilder(baseDir, {
    id: "duplicates/cross-near",
    category: "duplicates",
    title: `Near-duplicate of a row in another source (Jaccard ≥ ${threshold})`,
    severity: "info",
    source: null,
    filter: across,
  });
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const b = builders(row.source);
    b.total++;
    const first = firstByKey.get(keys[i]!);
    if (first !== undefined) {
      const orig = rows[first]!;
      (orig.source === row.source ? b.exact : crossExact).add(row, `same as ${whereOf(orig, baseDir)}`);
      continue;
    }
    firstByKey.set(keys[i]!, i);
    const hit = index.query(sigs[i]!);
    if (hit) {
      const orig = rows[hit.id]!;
      const note = `${hit.similarity.toFixed(2)} like ${whereOf(orig, baseDir)}`;
      (orig.source === row.source ? b.near : crossNear).add(row, note);
      continue;
    }
    index.add(i, sigs[i]!);
  }
  const bySource = new Map<string, Finding[]>();
  for (const [source, b] of perSource) {
    bySource.set(
      source,
      [b.exact.build(b.total), b.near.build(b.total)].filter((x): x is Finding => x !== null),
    );
  }
  const mix = [crossExact.build(rows.length), crossNear.build(rows.length)].filter(
    (x): x is Finding => x !== null,
  );
  if (opts.split) mix.push(...leakage(rows, sigs, keys, byId, opts.split, threshold, baseDir));
  return { bySource, mix };
}

function leakage(
  rows: readonly QualityRow[],
  sigs: Uint32Array[],
  keys: string[],
  byId: Map<number, number>,
  split: { train: ReadonlySet<number>; eval: ReadonlySet<number> },
  threshold: number,
  baseDir: string,
): Finding[] {
  const index = new LshIndex(threshold);
  const trainByKey = new Map<string, number>();
  for (const id of split.train) {
    const i = byId.get(id);
    if (i === undefined) continue;
    trainByKey.set(keys[i]!, i);
    index.add(i, sigs[i]!);
  }
  const b = new FindingBuilder(baseDir, {
    id: "duplicates/leakage",
    category: "duplicates",
    title: "Eval row duplicated in the train split (leakage)",
    severity: "error",
    source: null,
    filter: {
      name: "dedupe",
      active: false,
      setting: `filters: { dedupe: { threshold: ${threshold} } } (dedupe runs before the split)`,
    },
  });
  let total = 0;
  for (const id of split.eval) {
    const i = byId.get(id);
    if (i === undefined) continue;
    total++;
    const exact = trainByKey.get(keys[i]!);
    if (exact !== undefined) {
      b.add(rows[i]!, `exact copy in train: ${whereOf(rows[exact]!, baseDir)}`);
      continue;
    }
    const hit = index.query(sigs[i]!);
    if (hit) b.add(rows[i]!, `${hit.similarity.toFixed(2)} like train ${whereOf(rows[hit.id]!, baseDir)}`);
  }
  const f = b.build(total);
  return f ? [f] : [];
}
