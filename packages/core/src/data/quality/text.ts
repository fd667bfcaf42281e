// Text helpers shared by the quality detectors and filters: normalising, word tokens, cheap hashes.

/** Lower case, collapsed whitespace, trimmed: what "the same text" means for duplicates and consistency. */
export function normalise(s: string): string {
  return s.toLowerCase().replace(/\s+/g, " ").trim();
}

// Han, Hiragana, Katakana, Hangul, Thai: written without spaces, so each character is a token.
const NO_SPACE_SCRIPT = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f\uf900-\ufaff]/u;
const TOKEN =
  /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f\uf900-\ufaff]|[\p{L}\p{N}_]+/gu;

/** Lower-cased word tokens; characters of scripts without spaces are one token each. */
export function words(s: string): string[] {
  return s.toLowerCase().match(TOKEN) ?? [];
}

export function hasNoSpaceScript(s: string): boolean {
  return NO_SPACE_SCRIPT.test(s);
}

/** FNV-1a over a string, 32-bit unsigned. */
export function hash32(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Combines two 32-bit hashes (order matters): n-gram hashes without building n-gram strings. */
export function combine(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Hashes of the n-grams of a token list (the whole list when shorter than n). */
export function ngramHashes(tokens: readonly string[], n: number): number[] {
  const hs = tokens.map((t) => hash32(t));
  if (hs.length === 0) return [];
  if (hs.length < n) return [hs.reduce((a, b) => combine(a, b), n)];
  const out: number[] = [];
  for (let i = 0; i + n <= hs.length; i++) {
    let h = n;
    for (let j = 0; j < n; j++) h = combine(h, hs[i + j]!);
    out.push(h);
  }
  return out;
}

/** Shortened one-line text for report tables. */
export function snippet(s: string, max = 120): string {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

const UNICODE_BOUNDARY =
  "(?:(?<![\\p{L}\\p{M}\\p{N}_])(?=[\\p{L}\\p{N}_])|(?<=[\\p{L}\\p{M}\\p{N}_])(?![\\p{L}\\p{M}\\p{N}_]))";

/** The regex with `\b` meaning a boundary of Unicode words: JS's `\b` is ASCII-only, so "Bugün" matched "bug". */
export function unicodeWords(re: RegExp): RegExp {
  return new RegExp(
    re.source.replaceAll("\\b", UNICODE_BOUNDARY),
    re.flags.includes("u") ? re.flags : `${re.flags}u`,
  );
}
