// Seeded PRNG (mulberry32) and helpers: every shuffle and sample in the data pipeline goes through here.
import { mulberry32 } from "../../util/mulberry32.ts";

export { mulberry32 };

export type Rng = () => number;

/** A 32-bit seed from a seed and labels (FNV-1a), so each use (split, epoch, source) gets its own stream. */
export function deriveSeed(seed: number, ...labels: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const part of [String(seed), ...labels.map(String)]) {
    for (let i = 0; i < part.length; i++) h = Math.imul(h ^ part.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0x2f, 0x01000193);
  }
  return h >>> 0;
}

export function rngFor(seed: number, ...labels: (string | number)[]): Rng {
  return mulberry32(deriveSeed(seed, ...labels));
}

/** Fisher-Yates, in place. */
export function shuffle<T>(xs: T[], rng: Rng): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = xs[i]!;
    xs[i] = xs[j]!;
    xs[j] = t;
  }
  return xs;
}

/** 0..n-1 shuffled. */
export function permutation(n: number, rng: Rng): number[] {
  return shuffle(
    Array.from({ length: n }, (_, i) => i),
    rng,
  );
}
