// Maps each token string back to the UTF-8 bytes it covers in the input text, so that token
// offsets can be recovered after encoding the whole text at once (the JS tokenizer gives no offsets).

/** GPT-2's byte <-> printable-char table used by ByteLevel pre-tokenizers. */
function byteLevelDecoder(): Map<string, number> {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const map = new Map<string, number>();
  bs.forEach((b, i) => {
    map.set(String.fromCharCode(cs[i]!), b);
  });
  return map;
}

const BYTE_LEVEL = byteLevelDecoder();
const utf8 = new TextEncoder();
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

export type SurfaceKind = "byte-level" | "metaspace";

/** How a tokenizer.json spells text in its tokens: GPT-2 byte chars, or SentencePiece's "▁" and <0xNN>. */
export function surfaceKind(tokenizerJson: Record<string, unknown>): SurfaceKind {
  const text = JSON.stringify([tokenizerJson.pre_tokenizer ?? null, tokenizerJson.decoder ?? null]);
  return text.includes('"ByteLevel"') ? "byte-level" : "metaspace";
}

export class SurfaceTable {
  private readonly cache = new Map<string, Uint8Array>();
  constructor(
    private readonly kind: SurfaceKind,
    private readonly added: ReadonlySet<string>,
  ) {}

  /** Bytes of the input text that this token stands for (before any prepended "▁"). */
  bytes(token: string): Uint8Array {
    let out = this.cache.get(token);
    if (out) return out;
    out = this.compute(token);
    this.cache.set(token, out);
    return out;
  }

  private compute(token: string): Uint8Array {
    switch (this.kind) {
      case "metaspace":
        return this.metaspaceBytes(token);
      case "byte-level":
        return this.byteLevelBytes(token);
    }
  }

  private metaspaceBytes(token: string): Uint8Array {
    const m = BYTE_TOKEN.exec(token);
    if (m && !this.added.has(token)) return Uint8Array.of(Number.parseInt(m[1]!, 16));
    return utf8.encode(token.replaceAll("\u2581", " "));
  }

  private byteLevelBytes(token: string): Uint8Array {
    if (this.added.has(token)) return utf8.encode(token);
    const bytes: number[] = [];
    for (const ch of token) {
      const b = BYTE_LEVEL.get(ch);
      if (b === undefined) {
        // Not a byte-level char (e.g. an unknown token): take it literally.
        for (const x of utf8.encode(ch)) bytes.push(x);
      } else bytes.push(b);
    }
    return Uint8Array.from(bytes);
  }
}

function matchAt(text: Uint8Array, pos: number, s: Uint8Array, from: number): boolean {
  if (pos + s.length - from > text.length) return false;
  for (let i = from; i < s.length; i++) if (text[pos + i - from] !== s[i]) return false;
  return true;
}

function isSpaceByte(b: number | undefined): boolean {
  return b === 0x20 || b === 0x0a || b === 0x09 || b === 0x0d || b === 0x0b || b === 0x0c;
}

/**
 * Byte offsets [start, end) of each token in `text`, or null when the tokens do not spell the text
 * (a normalizer that rewrites text, e.g. NFKC or lowercasing). Handles a "▁"/"Ġ" the tokenizer
 * prepended, whitespace an added token's lstrip/rstrip swallowed, and zero-width post-processor tokens.
 */
export function alignTokens(
  text: Uint8Array,
  tokens: readonly string[],
  table: SurfaceTable,
  added: ReadonlySet<string>,
): Int32Array | null {
  const offsets = new Int32Array(tokens.length * 2);
  let p = 0;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    const s = table.bytes(tok);
    let start = -1;
    let q = p;
    for (;;) {
      if (matchAt(text, q, s, 0)) {
        start = q;
        p = q + s.length;
      } else if (s.length > 0 && s[0] === 0x20 && matchAt(text, q, s, 1)) {
        start = q;
        p = q + s.length - 1;
      }
      if (start >= 0 || !isSpaceByte(text[q])) break;
      q++;
    }
    if (start < 0) {
      // A special token the post-processor inserted (bos/eos with addSpecialTokens) covers no text.
      if (!added.has(tok)) return null;
      start = p;
    }
    offsets[2 * i] = start;
    offsets[2 * i + 1] = p;
  }
  return offsets;
}
