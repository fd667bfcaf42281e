// The base model's tensors in their storage dtype: bf16/f16 as Uint16Array, f32 as Float32Array, NF4
// codes (QLoRA). Read tensor by tensor from safetensors straight into the target array (no float32
// copy of the whole model); 1-D tensors (norms, biases) are always float32 (they are tiny).
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { dequantizeNF4, type NF4Tensor } from "../../model/adapters/nf4.ts";
import { INDEX_FILE, SINGLE_FILE } from "../../model/checkpoint.ts";
import type { ModelConfig } from "../../model/config.ts";
import { decodeToF32, encodeFromF32 } from "../../model/dtype.ts";
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

/**
 * Reads the config's tensors from a HF folder. Tensors named in `fp32` (trainable ones) and every
 * 1-D tensor become float32; the rest keep the checkpoint's dtype.
 */
export async function loadBaseTensors(
  dir: string,
  cfg: ModelConfig,
  fp32: (name: string) => boolean,
): Promise<Map<string, BaseTensor>> {
  const where = await openShards(dir);
  const out = new Map<string, BaseTensor>();
  const fds = new Map<string, number>();
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
      const n = numel(shape);
      const raw = dtype === "f32" ? new Float32Array(n) : new Uint16Array(n);
      const view = new Uint8Array(raw.buffer);
      let done = 0;
      while (done < info.byteLength) {
        const got = readSync(fd, view, done, info.byteLength - done, info.offset + done);
        if (got <= 0) throw new SafetensorsError(`${f.path}: tensor "${name}": unexpected end of file`);
        done += got;
      }
      let stored: Stored =
        dtype === "f32" ? { dtype, data: raw as Float32Array } : { dtype, data: raw as Uint16Array };
      if (stored.dtype !== "f32" && (shape.length === 1 || fp32(name)))
        stored = { dtype: "f32", data: toF32(stored) };
      out.set(name, { name, shape, stored });
    }
  } finally {
    for (const fd of fds.values()) closeSync(fd);
    for (const f of new Set(where.values())) await f.close();
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
