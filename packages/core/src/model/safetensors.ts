// Hand-written safetensors reader/writer: header validated before any tensor-sized allocation,
// tensors read one at a time, files written atomically (temp file + rename).
import { type FileHandle, open, stat } from "node:fs/promises";
import { writeAtomicWith } from "../util/atomic-write.ts";
import { firstNonFinite } from "../util/finite.ts";
import {
  ALL_DTYPE_BYTES,
  DTYPE_BYTES,
  decodeToF32,
  encodeFromF32,
  isFloatDtype,
  type StDtype,
} from "./dtype.ts";

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

/** A tensor to write holds NaN or ±Infinity (a diverged state): refused, naming the tensor and the value. */
export class NonFiniteTensorError extends SafetensorsError {
  override name = "NonFiniteTensorError";
  constructor(
    path: string,
    readonly tensor: string,
    readonly value: number,
    readonly index: number,
  ) {
    super(
      `${path}: tensor "${tensor}" holds ${value} at index ${index}; non-finite values are never written`,
    );
  }
}

export interface TensorInfo {
  name: string;
  /** A safetensors dtype; only F32, F16 and BF16 tensors can be read as float32. */
  dtype: string;
  shape: number[];
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
}

// A header larger than this is certainly corrupt (real ones are well under 10 MB).
const MAX_HEADER = 100 * 1024 * 1024;

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Parses and validates a safetensors header against the file size. */
export function parseHeader(
  headerText: string,
  headerLen: number,
  fileSize: number,
  file: string,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  let json: unknown;
  try {
    json = JSON.parse(headerText);
  } catch (e) {
    throw new SafetensorsError(`${file}: header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw new SafetensorsError(`${file}: header is not a JSON object`);
  const dataStart = 8 + headerLen;
  const dataSize = fileSize - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    const at = `${file}: tensor "${name}"`;
    const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof t !== "object" || t === null) throw new SafetensorsError(`${at}: entry is not an object`);
    if (typeof t.dtype !== "string" || !(t.dtype in ALL_DTYPE_BYTES))
      throw new SafetensorsError(`${at}: unknown dtype ${JSON.stringify(t.dtype)}`);
    const dtype = t.dtype;
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new SafetensorsError(`${at}: invalid shape ${JSON.stringify(t.shape)}`);
    const shape = t.shape as number[];
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0))
      throw new SafetensorsError(`${at}: invalid data_offsets ${JSON.stringify(off)}`);
    const [begin, end] = off as [number, number];
    if (end < begin || end > dataSize)
      throw new SafetensorsError(
        `${at}: data_offsets [${begin}, ${end}] out of range (data section is ${dataSize} bytes; truncated file?)`,
      );
    const expected = shape.reduce((a, b) => a * b, 1) * ALL_DTYPE_BYTES[dtype]!;
    if (expected !== end - begin)
      throw new SafetensorsError(
        `${at}: shape ${shapeStr(shape)} of ${dtype} needs ${expected} bytes but data_offsets span ${end - begin}`,
      );
    spans.push([begin, end, name]);
    tensors.set(name, { name, dtype, shape, offset: dataStart + begin, byteLength: end - begin });
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1]!;
    const cur = spans[i]!;
    if (cur[0] < prev[1] && cur[1] > cur[0])
      throw new SafetensorsError(`${file}: tensors "${prev[2]}" and "${cur[2]}" overlap`);
  }
  return { tensors, metadata };
}

/** An open safetensors file; tensors are read on demand. */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly tensors: Map<string, TensorInfo>,
    readonly metadata: Record<string, string>,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    let fh: FileHandle;
    try {
      fh = await open(path, "r");
    } catch (e) {
      throw new SafetensorsError(`${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    try {
      const size = (await fh.stat()).size;
      if (size < 8)
        throw new SafetensorsError(`${path}: file is ${size} bytes, too short for a safetensors header`);
      const lenBuf = Buffer.alloc(8);
      await fh.read(lenBuf, 0, 8, 0);
      const len = lenBuf.readBigUInt64LE(0);
      if (len > BigInt(size - 8) || len > BigInt(MAX_HEADER))
        throw new SafetensorsError(
          `${path}: header length ${len} runs past the end of the file (${size} bytes); truncated or not safetensors`,
        );
      const headerLen = Number(len);
      const hb = Buffer.alloc(headerLen);
      await fh.read(hb, 0, headerLen, 8);
      const { tensors, metadata } = parseHeader(hb.toString("utf8"), headerLen, size, path);
      return new SafetensorsFile(path, fh, tensors, metadata);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(`${this.path}: tensor "${name}" not found`);
    return t;
  }

  async readRaw(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    const buf = new Uint8Array(t.byteLength);
    let done = 0;
    while (done < t.byteLength) {
      const { bytesRead } = await this.fh.read(buf, done, t.byteLength - done, t.offset + done);
      if (bytesRead === 0)
        throw new SafetensorsError(`${this.path}: tensor "${name}": unexpected end of file`);
      done += bytesRead;
    }
    return buf;
  }

  /** Reads one tensor as float32; with `expectedShape`, a mismatch is an error naming both shapes. */
  async readF32(name: string, expectedShape?: readonly number[]): Promise<Float32Array> {
    const t = this.info(name);
    if (expectedShape) checkShape(this.path, name, expectedShape, t.shape);
    if (!isFloatDtype(t.dtype))
      throw new SafetensorsError(
        `${this.path}: tensor "${name}" has dtype ${t.dtype}; only F32, F16 and BF16 tensors are supported`,
      );
    return decodeToF32(await this.readRaw(name), t.dtype);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

export function checkShape(
  file: string,
  name: string,
  expected: readonly number[],
  found: readonly number[],
): void {
  if (expected.length !== found.length || expected.some((d, i) => d !== found[i]))
    throw new SafetensorsError(
      `${file}: tensor "${name}" has shape ${shapeStr(found)}, expected ${shapeStr(expected)}`,
    );
}

export interface TensorToWrite {
  name: string;
  shape: readonly number[];
  /** float32 values, or a function producing them (called once, when the tensor is written). */
  data: Float32Array | (() => Float32Array | Promise<Float32Array>);
  dtype?: StDtype;
}

/** Builds the header bytes (padded with spaces to 8 bytes, as the reference writer does). */
function buildHeader(
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
  dflt: StDtype = "F32",
) {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new SafetensorsError(`duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    const dtype = t.dtype ?? dflt;
    const bytes = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    header[t.name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let text = JSON.stringify(header);
  text += " ".repeat((8 - ((Buffer.byteLength(text) + 8) % 8)) % 8);
  const hb = Buffer.from(text, "utf8");
  const out = Buffer.alloc(8 + hb.length);
  out.writeBigUInt64LE(BigInt(hb.length), 0);
  hb.copy(out, 8);
  return { bytes: out, dataBytes: offset };
}

/**
 * Writes a safetensors file atomically (util/atomic-write: a temp file, fsync, then rename). Tensors are
 * materialised and encoded one at a time. Returns the number of data bytes written.
 */
export async function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  opts: { metadata?: Record<string, string>; dtype?: StDtype } = {},
): Promise<number> {
  const { bytes, dataBytes } = buildHeader(tensors, opts.metadata, opts.dtype);
  await writeAtomicWith(
    path,
    async (fh) => {
      await fh.write(bytes, 0, bytes.length, 0);
      let pos = bytes.length;
      for (const t of tensors) {
        const values = typeof t.data === "function" ? await t.data() : t.data;
        const n = t.shape.reduce((a, b) => a * b, 1);
        if (values.length !== n)
          throw new SafetensorsError(
            `${path}: tensor "${t.name}" has ${values.length} values, shape needs ${n}`,
          );
        // A NaN or infinite weight is a diverged or damaged state: refuse it rather than ship it.
        const bad = firstNonFinite(values);
        if (bad >= 0) throw new NonFiniteTensorError(path, t.name, values[bad]!, bad);
        const enc = encodeFromF32(values, t.dtype ?? opts.dtype ?? "F32");
        await fh.write(enc, 0, enc.byteLength, pos);
        pos += enc.byteLength;
      }
    },
    // The file's size, named in a full-disk message.
    bytes.length + dataBytes,
  );
  return dataBytes;
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
