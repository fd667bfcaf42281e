// NF4 (4-bit NormalFloat, QLoRA): 16 code values, one absmax per block of 64 values, and the absmax
// constants double-quantized to 8 bits in blocks of 256 (with one float32 scale per block and a mean offset).

/** The 16 NF4 code values of bitsandbytes / QLoRA (quantiles of N(0, 1) scaled to [-1, 1]). */
export const NF4_CODES: readonly number[] = Object.freeze([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]);

const CODES = Float32Array.from(NF4_CODES);
// Decision thresholds: midpoints between neighbouring codes (a value goes to its nearest code).
const MIDS = Float32Array.from({ length: 15 }, (_, i) => (NF4_CODES[i]! + NF4_CODES[i + 1]!) / 2);

export interface NF4Options {
  /** Values per absmax block (QLoRA: 64). */
  blockSize?: number;
  /** Quantize the absmax constants to 8 bits in blocks of 256 (QLoRA's double quantization). */
  doubleQuant?: boolean;
}

export interface NF4Tensor {
  /** Number of values. */
  length: number;
  blockSize: number;
  /** Two 4-bit code indices per byte, the first value in the high nibble (as bitsandbytes packs). */
  codes: Uint8Array;
  /** float32 absmax per block, when not double-quantized. */
  absmax: Float32Array | null;
  /** Double quantization: int8 absmax codes per block, a float32 scale per 256 of them, and their mean. */
  absmaxCodes: Int8Array | null;
  absmaxScales: Float32Array | null;
  absmaxOffset: number;
}

const DQ_BLOCK = 256;

function nearestCode(x: number): number {
  // Binary search over the 15 thresholds.
  let lo = 0;
  let hi = 15;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x > MIDS[mid]!) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Quantizes float32 values to NF4 (blockwise absmax scaling, nearest code). */
export function quantizeNF4(values: Float32Array, opts: NF4Options = {}): NF4Tensor {
  const q = new NF4Quantizer(values.length, opts);
  q.push(values);
  return q.finish();
}

/**
 * NF4 quantization fed in pieces (a checkpoint read chunk by chunk): the same result as quantizeNF4 over
 * the whole array, holding only the codes and one float32 absmax per block, never the values.
 */
export class NF4Quantizer {
  readonly blockSize: number;
  readonly doubleQuant: boolean;
  readonly codes: Uint8Array;
  /** float32 absmax per block (dropped by finish() under double quantization). */
  readonly absmax: Float32Array;
  private filled = 0;

  constructor(
    readonly length: number,
    opts: NF4Options = {},
  ) {
    const blockSize = opts.blockSize ?? 64;
    if (!Number.isInteger(blockSize) || blockSize < 2 || blockSize % 2 !== 0)
      throw new RangeError(`quantizeNF4: blockSize must be an even integer >= 2, got ${blockSize}`);
    this.blockSize = blockSize;
    this.doubleQuant = opts.doubleQuant ?? true;
    this.absmax = new Float32Array(Math.ceil(length / blockSize));
    this.codes = new Uint8Array(Math.ceil(length / 2));
  }

  /** The next values in order; every piece but the last holds whole blocks. */
  push(values: Float32Array): void {
    const bs = this.blockSize;
    const at = this.filled;
    if (at % bs !== 0) throw new RangeError("NF4Quantizer: only the last piece may end inside a block");
    if (at + values.length > this.length)
      throw new RangeError(`NF4Quantizer: more than ${this.length} values pushed`);
    const { codes, absmax } = this;
    for (let start = 0; start < values.length; start += bs) {
      const end = Math.min(values.length, start + bs);
      let m = 0;
      for (let i = start; i < end; i++) {
        const a = Math.abs(values[i]!);
        if (a > m) m = a;
      }
      absmax[(at + start) / bs] = m;
      const inv = m > 0 ? 1 / m : 0;
      for (let i = start; i < end; i++) {
        const c = nearestCode(values[i]! * inv);
        const g = at + i;
        codes[g >> 1]! |= (g & 1) === 0 ? c << 4 : c;
      }
    }
    this.filled = at + values.length;
  }

  finish(): NF4Tensor {
    if (this.filled !== this.length)
      throw new RangeError(`NF4Quantizer: ${this.filled} of ${this.length} values pushed`);
    const { length, blockSize, codes, absmax } = this;
    if (!this.doubleQuant)
      return { length, blockSize, codes, absmax, absmaxCodes: null, absmaxScales: null, absmaxOffset: 0 };
    return { length, blockSize, codes, absmax: null, ...doubleQuantize(absmax) };
  }
}

/** Double quantization: absmax minus its mean, then symmetric 8-bit codes per block of 256. */
function doubleQuantize(
  absmax: Float32Array,
): Pick<NF4Tensor, "absmaxCodes" | "absmaxScales" | "absmaxOffset"> {
  const blocks = absmax.length;
  let mean = 0;
  for (let b = 0; b < blocks; b++) mean += absmax[b]!;
  mean = blocks ? Math.fround(mean / blocks) : 0;
  const dqBlocks = Math.ceil(blocks / DQ_BLOCK);
  const absmaxCodes = new Int8Array(blocks);
  const absmaxScales = new Float32Array(dqBlocks);
  for (let d = 0; d < dqBlocks; d++) {
    const start = d * DQ_BLOCK;
    const end = Math.min(blocks, start + DQ_BLOCK);
    let m = 0;
    for (let i = start; i < end; i++) m = Math.max(m, Math.abs(absmax[i]! - mean));
    absmaxScales[d] = m / 127;
    const inv = m > 0 ? 127 / m : 0;
    for (let i = start; i < end; i++) absmaxCodes[i] = Math.round((absmax[i]! - mean) * inv);
  }
  return { absmaxCodes, absmaxScales, absmaxOffset: mean };
}

/** The absmax of each block (decoding the double quantization when used). */
export function nf4Absmax(q: NF4Tensor): Float32Array {
  if (q.absmax) return q.absmax;
  const cached = decodedAbsmax.get(q);
  if (cached) return cached;
  const codes = q.absmaxCodes!;
  const scales = q.absmaxScales!;
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = codes[i]! * scales[(i / DQ_BLOCK) | 0]! + q.absmaxOffset;
  decodedAbsmax.set(q, out);
  return out;
}

// The decoded constants of double-quantized tensors: every forward and backward pass needs them.
const decodedAbsmax = new WeakMap<NF4Tensor, Float32Array>();

/** The 16 NF4 code values as float32. */
export function nf4Table(): Float32Array {
  return CODES;
}

/**
 * Float32 values of an NF4 tensor. With `transpose` = [rows, cols] (the stored row-major shape), the
 * result is the transpose, [cols, rows] (a linear's [out, in] weight as the [in, out] a matmul wants).
 */
export function dequantizeNF4(q: NF4Tensor, transpose?: readonly [number, number]): Float32Array {
  const n = q.length;
  const absmax = nf4Absmax(q);
  const out = new Float32Array(n);
  const bs = q.blockSize;
  if (!transpose) {
    for (let i = 0; i < n; i++) {
      const byte = q.codes[i >> 1]!;
      const c = (i & 1) === 0 ? byte >> 4 : byte & 15;
      out[i] = CODES[c]! * absmax[(i / bs) | 0]!;
    }
    return out;
  }
  const [rows, cols] = transpose;
  if (rows * cols !== n)
    throw new RangeError(`dequantizeNF4: shape [${rows}, ${cols}] does not hold ${n} values`);
  let i = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++, i++) {
      const byte = q.codes[i >> 1]!;
      const code = (i & 1) === 0 ? byte >> 4 : byte & 15;
      out[c * rows + r] = CODES[code]! * absmax[(i / bs) | 0]!;
    }
  }
  return out;
}

/** Bytes an NF4 tensor holds (codes, absmax constants, scales, offset). */
export function nf4Bytes(q: NF4Tensor): number {
  return (
    q.codes.byteLength +
    (q.absmax?.byteLength ?? 0) +
    (q.absmaxCodes?.byteLength ?? 0) +
    (q.absmaxScales?.byteLength ?? 0) +
    (q.absmaxCodes ? 4 : 0)
  );
}
