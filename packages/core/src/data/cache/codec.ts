import { createHash } from "node:crypto";
import type { TokenizedSample } from "../types.ts";

// Entry layout: magic(8) | metaBytes u32 | dataInts u32 | sha256(meta+data)(32) | meta JSON (padded to 4) | Int32 data.
// Data: n, then per sample length, file index, line (-1 = none), row index; then all ids; then all labels.
const MAGIC = "SFTKITC1";
const HEADER = 48;

export interface EncodedSamples<M> {
  meta: M;
  files: string[];
  samples: TokenizedSample[];
}

export function encodeEntry<M>(meta: M, samples: TokenizedSample[], source: string): Buffer {
  const files: string[] = [];
  const fileIdx = new Map<string, number>();
  let total = 0;
  for (const s of samples) total += s.inputIds.length;
  const n = samples.length;
  const data = new Int32Array(1 + 4 * n + 2 * total);
  data[0] = n;
  let ids = 1 + 4 * n;
  let labels = ids + total;
  samples.forEach((s, i) => {
    let f = fileIdx.get(s.origin.file);
    if (f === undefined) {
      f = files.length;
      fileIdx.set(s.origin.file, f);
      files.push(s.origin.file);
    }
    data[1 + i] = s.inputIds.length;
    data[1 + n + i] = f;
    data[1 + 2 * n + i] = s.origin.line ?? -1;
    data[1 + 3 * n + i] = s.origin.index;
    // A plain loop: TypedArray.set from a JS array is several times slower.
    const inputIds = s.inputIds;
    const lab = s.labels;
    for (let k = 0; k < inputIds.length; k++) data[ids + k] = inputIds[k]!;
    for (let k = 0; k < lab.length; k++) data[labels + k] = lab[k]!;
    ids += s.inputIds.length;
    labels += s.labels.length;
  });
  const metaBytes = Buffer.from(JSON.stringify({ meta, files, source }), "utf8");
  const pad = (4 - (metaBytes.length % 4)) % 4;
  const dataBytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const header = Buffer.alloc(HEADER);
  header.write(MAGIC, 0, "latin1");
  header.writeUInt32LE(metaBytes.length, 8);
  header.writeUInt32LE(data.length, 12);
  createHash("sha256").update(metaBytes).update(dataBytes).digest().copy(header, 16);
  return Buffer.concat([header, metaBytes, Buffer.alloc(pad), dataBytes]);
}

/**
 * An entry's size less its metadata JSON (file names and kept problems: a few KiB): the header and the Int32
 * data of the layout above. What the plan's disk estimate counts for the data cache.
 */
export function entryDataBytes(samples: readonly TokenizedSample[]): number {
  let total = 0;
  for (const s of samples) total += s.inputIds.length;
  return HEADER + 4 * (1 + 4 * samples.length + 2 * total);
}

/** The entry, or null when the bytes are not a complete, intact entry (truncated, corrupt, other format). */
export function decodeEntry<M>(buf: Buffer): EncodedSamples<M> | null {
  if (buf.length < HEADER || buf.toString("latin1", 0, 8) !== MAGIC) return null;
  const metaLen = buf.readUInt32LE(8);
  const ints = buf.readUInt32LE(12);
  const dataStart = HEADER + metaLen + ((4 - (metaLen % 4)) % 4);
  if (buf.length !== dataStart + ints * 4) return null;
  const metaBytes = buf.subarray(HEADER, HEADER + metaLen);
  const dataBytes = buf.subarray(dataStart);
  const sum = createHash("sha256").update(metaBytes).update(dataBytes).digest();
  if (!sum.equals(buf.subarray(16, 48))) return null;
  let parsed: { meta: M; files: string[]; source: string };
  try {
    parsed = JSON.parse(metaBytes.toString("utf8"));
  } catch {
    return null;
  }
  // Copy to an aligned buffer: a Buffer from readFile may sit at any offset of a shared pool.
  const data = new Int32Array(ints);
  new Uint8Array(data.buffer).set(dataBytes);
  const n = data[0] ?? 0;
  const samples: TokenizedSample[] = new Array(n);
  let ids = 1 + 4 * n;
  let total = 0;
  for (let i = 0; i < n; i++) total += data[1 + i]!;
  let labels = ids + total;
  for (let i = 0; i < n; i++) {
    const len = data[1 + i]!;
    const line = data[1 + 2 * n + i]!;
    const origin: TokenizedSample["origin"] = {
      file: parsed.files[data[1 + n + i]!] ?? "",
      index: data[1 + 3 * n + i]!,
    };
    if (line >= 0) origin.line = line;
    samples[i] = {
      inputIds: toArray(data, ids, len),
      labels: toArray(data, labels, len),
      source: parsed.source,
      origin,
    };
    ids += len;
    labels += len;
  }
  return { meta: parsed.meta, files: parsed.files, samples };
}

function toArray(data: Int32Array, start: number, len: number): number[] {
  const out = new Array<number>(len);
  for (let k = 0; k < len; k++) out[k] = data[start + k]!;
  return out;
}
