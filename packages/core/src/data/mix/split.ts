import { permutation, rngFor } from "./rng.ts";

export interface SplitResult {
  /** Indices into the source's rows, each in exactly one of the two lists, both ascending. */
  train: number[];
  eval: number[];
  /** Set when the request could not be met (e.g. more eval rows than rows). */
  problem?: string;
}

/** How many rows `eval` (a fraction in (0, 1) or a count) holds out of n. */
export function evalCount(n: number, evalSpec: number | undefined): number {
  if (evalSpec === undefined || n === 0) return 0;
  if (evalSpec < 1) return Math.min(n - 1, Math.max(1, Math.round(evalSpec * n)));
  return Math.floor(evalSpec);
}

/** Deterministic train/eval split of n rows for a source; a row is never in both. */
export function splitIndices(
  n: number,
  evalSpec: number | undefined,
  seed: number,
  source: string,
): SplitResult {
  let k = evalCount(n, evalSpec);
  let problem: string | undefined;
  if (k >= n && k > 0) {
    problem = `eval asks for ${k} rows but the source has ${n} after filters; ${Math.max(0, n - 1)} held out instead`;
    k = Math.max(0, n - 1);
  }
  if (k === 0)
    return { train: Array.from({ length: n }, (_, i) => i), eval: [], ...(problem ? { problem } : {}) };
  const perm = permutation(n, rngFor(seed, "split", source));
  const held = new Uint8Array(n);
  for (let i = 0; i < k; i++) held[perm[i]!] = 1;
  const train: number[] = [];
  const evalRows: number[] = [];
  for (let i = 0; i < n; i++) (held[i] ? evalRows : train).push(i);
  return { train, eval: evalRows, ...(problem ? { problem } : {}) };
}
