import type { TokenizedSample } from "../types.ts";
import { rngFor, shuffle } from "./rng.ts";

export interface MixSource {
  name: string;
  size: number;
  weight?: number | undefined;
  samples?: number | undefined;
}

/** Samples per epoch for a source: `samples`, or `weight` × its size (1 = once), at least 1 when it has rows. */
export function samplesPerEpoch(s: MixSource): number {
  if (s.size === 0) return 0;
  if (s.samples !== undefined) return s.samples;
  return Math.max(1, Math.round((s.weight ?? 1) * s.size));
}

/**
 * Indices into one source for one epoch: whole repetitions, then the remainder drawn without replacement.
 * Deterministic for (seed, epoch, source); a different epoch draws a different remainder.
 */
export function drawSource(s: MixSource, epoch: number, seed: number): number[] {
  const target = samplesPerEpoch(s);
  const out: number[] = [];
  if (target === 0) return out;
  const reps = Math.floor(target / s.size);
  for (let r = 0; r < reps; r++) for (let i = 0; i < s.size; i++) out.push(i);
  const rest = target - reps * s.size;
  if (rest > 0) {
    const pool = shuffle(
      Array.from({ length: s.size }, (_, i) => i),
      rngFor(seed, "draw", s.name, epoch),
    );
    for (let i = 0; i < rest; i++) out.push(pool[i]!);
  }
  return out;
}

/** The epoch's mix: every source drawn, then all shuffled together (a new order each epoch). */
export function mixSamples(
  sources: { source: MixSource; samples: TokenizedSample[] }[],
  epoch: number,
  seed: number,
): TokenizedSample[] {
  const out: TokenizedSample[] = [];
  for (const { source, samples } of sources)
    for (const i of drawSource(source, epoch, seed)) out.push(samples[i]!);
  return shuffle(out, rngFor(seed, "epoch", epoch));
}

/** Realised samples per source in an epoch's mix. */
export function countBySource(samples: readonly TokenizedSample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) out[s.source] = (out[s.source] ?? 0) + 1;
  return out;
}
