// The base model's tensors in their storage dtype: bf16/f16 as Uint16Array, f32 as Float32Array, NF4
// codes (QLoRA). Read tensor by tensor from safetensors straight into the target array, converted or
// quantized a chunk at a time (no copy of the model, or of one tensor, in another dtype); 1-D tensors
// (norms, biases) are always float32 (they are tiny).
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { dequantizeNF4, type NF4Options, NF4Quantizer, type NF4Tensor } from "../../model/adapters/nf4.ts";
import { INDEX_FILE, SINGLE_FILE } from "../../model/checkpoint.ts";
import type { ModelConfig } from "../../model/config.ts";
import { decodeToF32, encodeFromF32, halfIntoF32 } from "../../model/dtype.ts";
import { tensorKinds } from "../../model/families/index.ts";
import { expectedTensors } from "../../model/llama.ts";
import { checkShape, SafetensorsError, SafetensorsFile } from "../../model/safetensors.ts";

export type Stored =
  | { dtype: "f32"; data: Float32Array }
  | { dtype: "bf16" | "f16"; data: Uint16Array }
  | { dtype: "nf4"; q: NF4Tensor };

/** A base tensor in HF name and layout ([out, in] for linears, [V, d] for tables). */
export interface BaseTensor {
  name: string;
  shape: number[];
  stored: Stored;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function storedBytes(s: Stored): number {
  if (s.dtype === "nf4")
    return (
      s.q.codes.byteLength +
      (s.q.absmax?.byteLength ?? 0) +
      (s.q.absmaxCodes?.byteLength ?? 0) +
      (s.q.absmaxScales?.byteLength ?? 0)
    );
  return s.data.byteLength;
}

/** bf16 -> f32 is a shift: exact. */
export function bf16ToF32(src: Uint16Array, out: Float32Array): Float32Array {
  const o = new Uint32Array(out.buffer, out.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) o[i] = src[i]! << 16;
  return out;
}

/** The float32 values of a stored tensor, into `scratch` when a conversion is needed (else the array itself). */
export function asF32(s: Stored, scratch: () => Float32Array): Float32Array {
  if (s.dtype === "f32") return s.data;
  if (s.dtype === "bf16") return bf16ToF32(s.data, scratch());
  if (s.dtype === "nf4") {
    const out = scratch();
    out.set(dequantizeNF4(s.q));
    return out;
  }
  const out = scratch();
  out.set(decodeToF32(new Uint8Array(s.data.buffer, s.data.byteOffset, s.data.byteLength), "F16"));
  return out;
}

/** A fresh float32 copy of a stored tensor. */
export function toF32(s: Stored): Float32Array {
  const n = s.dtype === "nf4" ? s.q.length : s.data.length;
  const a = asF32(s, () => new Float32Array(n));
  return a === (s as { data?: unknown }).data ? Float32Array.from(a) : a;
}

/** Stores float32 values in `dtype` (rounding to nearest even for bf16/f16). */
export function fromF32(values: Float32Array, dtype: "f32" | "bf16" | "f16"): Stored {
  if (dtype === "f32") return { dtype, data: values };
  const bytes = encodeFromF32(values, dtype === "bf16" ? "BF16" : "F16");
  return { dtype, data: new Uint16Array(bytes.buffer, bytes.byteOffset, values.length) };
}

const CHECKPOINT_DTYPES = { F32: "f32", BF16: "bf16", F16: "f16" } as const;

/** Which file holds each tensor: one model.safetensors or the shards of the index. */
async function openShards(dir: string): Promise<Map<string, SafetensorsFile>> {
  const where = new Map<string, SafetensorsFile>();
  let index: Record<string, string> | null = null;
  try {
    const json = JSON.parse(readFileSync(join(dir, INDEX_FILE), "utf8")) as { weight_map?: unknown };
    if (typeof json.weight_map !== "object" || json.weight_map === null)
      throw new SafetensorsError(`${join(dir, INDEX_FILE)}: no weight_map`);
    index = json.weight_map as Record<string, string>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const files = new Map<string, SafetensorsFile>();
  const open = async (file: string) => {
    let f = files.get(file);
    if (!f) {
      if (file.includes("/") || file.includes("\\"))
        throw new SafetensorsError(`${dir}: "${file}" is not a shard file name`);
      f = await SafetensorsFile.open(join(dir, file));
      files.set(file, f);
    }
    return f;
  };
  if (index) for (const [name, file] of Object.entries(index)) where.set(name, await open(file));
  else {
    const f = await open(SINGLE_FILE);
    for (const name of f.tensors.keys()) where.set(name, f);
  }
  return where;
}

/** Bytes a load holds, now and at most: the arrays it made and has not let go of. */
export class ByteTally {
  live = 0;
  peak = 0;
  hold<T extends ArrayBufferView>(a: T): T {
    this.live += a.byteLength;
    this.peak = Math.max(this.peak, this.live);
    return a;
  }
  release(a: ArrayBufferView): void {
    this.live -= a.byteLength;
  }
}

export interface LoadOptions {
  /** Tensors quantized to NF4 as they are read (QLoRA's frozen linears), with their settings. */
  nf4?: ReadonlyMap<string, NF4Options>;
  /** Counts what the load allocates (its peak, against the plan's estimate). */
  tally?: ByteTally;
}

/**
 * Values per read when a tensor changes dtype on the way in: the load's transient memory is one
 * such chunk (raw and float32), whatever the size of the model or of its largest tensor.
 */
const CHUNK_VALUES = 2 ** 18;

function readExactly(fd: number, into: Uint8Array, at: number, what: string): void {
  let done = 0;
  while (done < into.byteLength) {
    const got = readSync(fd, into, done, into.byteLength - done, at + done);
    if (got <= 0) throw new SafetensorsError(`${what}: unexpected end of file`);
    done += got;
  }
}

/**
 * Reads the config's tensors from a HF folder. Tensors named in `fp32` (trainable ones) and every
 * 1-D tensor become float32, those in `nf4` NF4 (quantized a chunk at a time: no tensor is ever held
 * whole in another dtype); the rest keep the checkpoint's dtype.
 */
export async function loadBaseTensors(
  dir: string,
  cfg: ModelConfig,
  fp32: (name: string) => boolean,
  opts: LoadOptions = {},
): Promise<Map<string, BaseTensor>> {
  const tally = opts.tally ?? new ByteTally();
  const where = await openShards(dir);
  const out = new Map<string, BaseTensor>();
  const fds = new Map<string, number>();
  let chunks: { raw: Uint16Array; values: Float32Array } | null = null;
  try {
    for (const { name, shape } of expectedTensors(cfg)) {
      const f = where.get(name);
      if (!f) throw new SafetensorsError(`${dir}: tensor "${name}" is missing from the checkpoint`);
      const info = f.info(name);
      checkShape(f.path, name, shape, info.shape);
      const dtype = CHECKPOINT_DTYPES[info.dtype as keyof typeof CHECKPOINT_DTYPES];
      if (!dtype)
        throw new SafetensorsError(
          `${f.path}: tensor "${name}" has dtype ${info.dtype}; F32, BF16 or F16 only`,
        );
      let fd = fds.get(f.path);
      if (fd === undefined) {
        fd = openSync(f.path, "r");
        fds.set(f.path, fd);
      }
      const what = `${f.path}: tensor "${name}"`;
      const n = numel(shape);
      const widen = dtype !== "f32" && (shape.length === 1 || fp32(name));
      const nf4 = widen || fp32(name) ? undefined : opts.nf4?.get(name);
      if (!widen && !nf4) {
        // Kept as stored: read straight into its array.
        const data = tally.hold(dtype === "f32" ? new Float32Array(n) : new Uint16Array(n));
        readExactly(fd, new Uint8Array(data.buffer), info.offset, what);
        const stored: Stored =
          dtype === "f32" ? { dtype, data: data as Float32Array } : { dtype, data: data as Uint16Array };
        out.set(name, { name, shape, stored });
        continue;
      }
      chunks ??= {
        raw: tally.hold(new Uint16Array(CHUNK_VALUES)),
        values: tally.hold(new Float32Array(CHUNK_VALUES)),
      };
      const { raw, values } = chunks;
      const quantizer = nf4 ? new NF4Quantizer(n, nf4) : null;
      if (quantizer) {
        tally.hold(quantizer.codes);
        tally.hold(quantizer.absmax);
      }
      const target = quantizer ? null : tally.hold(new Float32Array(n));
      // NF4 pieces must hold whole blocks.
      const step = quantizer
        ? Math.max(1, Math.floor(CHUNK_VALUES / quantizer.blockSize)) * quantizer.blockSize
        : CHUNK_VALUES;
      for (let at = 0; at < n; at += step) {
        const m = Math.min(step, n - at);
        const dst = target ? target.subarray(at, at + m) : values.subarray(0, m);
        if (dtype === "f32")
          readExactly(fd, new Uint8Array(dst.buffer, dst.byteOffset, m * 4), info.offset + at * 4, what);
        else {
          readExactly(fd, new Uint8Array(raw.buffer, 0, m * 2), info.offset + at * 2, what);
          halfIntoF32(raw.subarray(0, m), info.dtype as "F16" | "BF16", dst);
        }
        quantizer?.push(dst);
      }
      let stored: Stored;
      if (quantizer) {
        const q = quantizer.finish();
        if (q.absmaxCodes) tally.hold(q.absmaxCodes);
        if (q.absmaxScales) tally.hold(q.absmaxScales);
        if (!q.absmax) tally.release(quantizer.absmax);
        stored = { dtype: "nf4", q };
      } else stored = { dtype: "f32", data: target! };
      out.set(name, { name, shape, stored });
    }
  } finally {
    for (const fd of fds.values()) closeSync(fd);
    for (const f of new Set(where.values())) await f.close();
    if (chunks) {
      tally.release(chunks.raw);
      tally.release(chunks.values);
    }
  }
  return out;
}

/**
 * The tfjs engine's random init (randomModel) value for value: the same seeded tf.randomNormal draws
 * per tensor (tfjs is used to draw the numbers only; nothing stays in it). Frozen tensors are then
 * stored in `dtype` (the config's torch dtype).
 */
export function randomBaseTensors(
  cfg: ModelConfig,
  seed: number,
  fp32: (name: string) => boolean,
  std = 0.02,
): Map<string, BaseTensor> {
  const out = new Map<string, BaseTensor>();
  const dtype = cfg.torchDtype === "bfloat16" ? "bf16" : cfg.torchDtype === "float16" ? "f16" : "f32";
  expectedTensors(cfg).forEach(({ name, shape, kind }, i) => {
    let data: Float32Array;
    // As the tfjs engine's randomModel: Gemma's (1 + weight) norms start at 0.
    if (tensorKinds[kind].init === "ones")
      data = new Float32Array(numel(shape)).fill(cfg.normUnitOffset ? 0 : 1);
    else {
      const t = tf.randomNormal(shape, 0, std, "float32", seed * 7919 + i);
      data = t.dataSync() as Float32Array;
      t.dispose();
    }
    const keep = shape.length === 1 || fp32(name) ? "f32" : dtype;
    out.set(name, { name, shape, stored: fromF32(data, keep) });
  });
  return out;
}

/** Rows [rows, cols] -> [cols, rows]. */
export function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c]!;
  return out;
}
