// Near-duplicates: MinHash signatures of word 3-grams, and an LSH index (bands of rows) that finds
// candidates in one pass; a candidate counts when its estimated Jaccard similarity reaches the threshold.
import { ngramHashes, words } from "./text.ts";

export const NUM_PERM = 128;
export const DEFAULT_NEAR_THRESHOLD = 0.8;
/** Candidates compared per bucket: keeps a pathological bucket (templated rows) from going quadratic. */
const BUCKET_CAP = 48;

const A = new Uint32Array(NUM_PERM);
const B = new Uint32Array(NUM_PERM);
{
  let s = 0x2545f491;
  const next = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
  for (let k = 0; k < NUM_PERM; k++) {
    A[k] = next();
    B[k] = next() | 1;
  }
}

/** The MinHash signature of a text (word 3-grams; scripts without spaces by character). */
export function signature(text: string): Uint32Array {
  const sig = new Uint32Array(NUM_PERM).fill(0xffffffff);
  const shingles = new Set(ngramHashes(words(text), 3));
  for (const h of shingles) {
    for (let k = 0; k < NUM_PERM; k++) {
      let x = Math.imul(h ^ A[k]!, 0x9e3779b1);
      x ^= x >>> 15;
      x = Math.imul(x, B[k]!);
      x = (x ^ (x >>> 13)) >>> 0;
      if (x < sig[k]!) sig[k] = x;
    }
  }
  return sig;
}

/** Share of equal signature slots: an estimate of the Jaccard similarity of the shingle sets. */
export function similarity(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let k = 0; k < NUM_PERM; k++) if (a[k] === b[k]) same++;
  return same / NUM_PERM;
}

/** Rows per band: the most that still makes a pair at the threshold a candidate with probability >= 0.95. */
export function bandsFor(threshold: number): { bands: number; rows: number } {
  for (let r = 16; r >= 1; r--) {
    const b = Math.floor(NUM_PERM / r);
    if (1 - (1 - threshold ** r) ** b >= 0.95) return { bands: b, rows: r };
  }
  return { bands: NUM_PERM, rows: 1 };
}

/** An LSH index over signatures; ids are the caller's. */
export class LshIndex {
  readonly bands: number;
  readonly rows: number;
  private readonly buckets: Map<number, number[]>[];
  private readonly sigs = new Map<number, Uint32Array>();

  constructor(readonly threshold: number = DEFAULT_NEAR_THRESHOLD) {
    ({ bands: this.bands, rows: this.rows } = bandsFor(threshold));
    this.buckets = Array.from({ length: this.bands }, () => new Map());
  }

  private bandKey(sig: Uint32Array, band: number): number {
    let h = 0x811c9dc5 ^ band;
    for (let i = band * this.rows; i < (band + 1) * this.rows; i++) {
      h = Math.imul(h ^ sig[i]!, 0x01000193);
      h ^= h >>> 15;
    }
    return h >>> 0;
  }

  /** The most similar indexed id at or above the threshold, with its similarity; null when none. */
  query(sig: Uint32Array): { id: number; similarity: number } | null {
    let best: { id: number; similarity: number } | null = null;
    const seen = new Set<number>();
    for (let band = 0; band < this.bands; band++) {
      const bucket = this.buckets[band]!.get(this.bandKey(sig, band));
      if (!bucket) continue;
      for (let i = 0; i < bucket.length && i < BUCKET_CAP; i++) {
        const id = bucket[i]!;
        if (seen.has(id)) continue;
        seen.add(id);
        const s = similarity(sig, this.sigs.get(id)!);
        if (s >= this.threshold && (!best || s > best.similarity)) best = { id, similarity: s };
      }
    }
    return best;
  }

  add(id: number, sig: Uint32Array): void {
    this.sigs.set(id, sig);
    for (let band = 0; band < this.bands; band++) {
      const key = this.bandKey(sig, band);
      const bucket = this.buckets[band]!.get(key);
      if (bucket) bucket.push(id);
      else this.buckets[band]!.set(key, [id]);
    }
  }
}
