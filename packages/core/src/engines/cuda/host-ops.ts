// The host backend of the cuda engine's ops: typed arrays, the kernels' per-element math (math.h via
// @sftkit/cuda's host add-on) and a plain GEMM over bf16-rounded operands with float32 accumulation, as
// cuBLASLt computes. Slow: it exists so that CI runs the GPU step's orchestration without a GPU.
import type { CudaHostAddon } from "@sftkit/cuda";
import {
  type AttnDims,
  type Buf,
  BYTES,
  type CudaOps,
  type DType,
  type HostArray,
  hostArray,
} from "./ops.ts";

class HostBuf implements Buf {
  constructor(
    readonly dtype: DType,
    readonly data: HostArray,
    readonly owned: boolean,
  ) {}
  get n(): number {
    return this.data.length;
  }
}

const f32 = (b: Buf | null): Float32Array => {
  const d = (b as HostBuf).data;
  if (!(d instanceof Float32Array)) throw new Error(`cuda host ops: expected an f32 buffer, got ${b?.dtype}`);
  return d;
};
const u16 = (b: Buf): Uint16Array => (b as HostBuf).data as Uint16Array;
const i32 = (b: Buf): Int32Array => (b as HostBuf).data as Int32Array;

/** bf16 bits -> float32 (exact). */
function widen(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const o = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) o[i] = src[i]! << 16;
  return out;
}

export class HostOps implements CudaOps {
  readonly kind = "host";
  private bytes = 0;
  private peak = 0;

  constructor(private readonly k: CudaHostAddon) {}

  describe(): string {
    return "host backend (math.h on the CPU, plain GEMM): for tests";
  }

  alloc(dtype: DType, n: number): Buf {
    this.bytes += n * BYTES[dtype];
    this.peak = Math.max(this.peak, this.bytes);
    return new HostBuf(dtype, hostArray(dtype, n), true);
  }

  scratch(dtype: DType, n: number): Buf {
    const b = this.alloc(dtype, n) as HostBuf;
    // NaN (f32: all ones; bf16 0xffff) or -1: what a read before the first write would see.
    if (b.data instanceof Float32Array) b.data.fill(Number.NaN);
    else b.data.fill(dtype === "bf16" ? 0xffff : -1);
    return b;
  }

  view(b: Buf, offset: number, n: number): Buf {
    if (offset < 0 || offset + n > b.n) throw new RangeError(`view [${offset}, ${offset + n}) of ${b.n}`);
    return new HostBuf(b.dtype, (b as HostBuf).data.subarray(offset, offset + n), false);
  }

  free(b: Buf): void {
    const h = b as HostBuf;
    if (h.owned) this.bytes -= h.n * BYTES[h.dtype];
  }

  upload(b: Buf, data: HostArray): void {
    if (data.length !== b.n) throw new RangeError(`upload: ${data.length} values into a buffer of ${b.n}`);
    (b as HostBuf).data.set(data as never);
  }

  download(b: Buf): HostArray {
    return (b as HostBuf).data.slice();
  }

  sync(): void {}

  gpuTimer(): null {
    return null;
  }

  zero(b: Buf): void {
    (b as HostBuf).data.fill(0);
  }

  memory() {
    return { bytes: this.bytes, peakBytes: this.peak, detail: "host buffers" };
  }

  toBf16(src: Buf, dst: Buf): void {
    this.k.bf16(f32(src), u16(dst));
  }

  gemm(
    ta: boolean,
    tb: boolean,
    M: number,
    N: number,
    K: number,
    A: Buf,
    B: Buf,
    C: Buf,
    alpha: number,
    beta: number,
  ) {
    if (A.dtype !== B.dtype) throw new Error(`gemm: operands of ${A.dtype} and ${B.dtype}`);
    const a = A.dtype === "f32" ? f32(A) : widen(u16(A));
    const b = B.dtype === "f32" ? f32(B) : widen(u16(B));
    const c = f32(C);
    const row = new Float32Array(N);
    for (let i = 0; i < M; i++) {
      row.fill(0);
      for (let k = 0; k < K; k++) {
        const av = ta ? a[k * M + i]! : a[i * K + k]!;
        if (av === 0) continue;
        if (tb) for (let j = 0; j < N; j++) row[j]! += av * b[j * K + k]!;
        else {
          const off = k * N;
          for (let j = 0; j < N; j++) row[j]! += av * b[off + j]!;
        }
      }
      const off = i * N;
      for (let j = 0; j < N; j++) c[off + j] = alpha * row[j]! + (beta === 0 ? 0 : beta * c[off + j]!);
    }
  }

  rmsNormForward(x: Buf, w: Buf, y: Buf, rstd: Buf, rows: number, dim: number, eps: number): void {
    this.k.rmsNormForward(f32(x), f32(w), f32(y), f32(rstd), rows, dim, eps);
  }

  rmsNormBackward(
    dy: Buf,
    x: Buf,
    w: Buf,
    rstd: Buf,
    dx: Buf,
    dw: Buf | null,
    rows: number,
    dim: number,
  ): void {
    const tmp = dw ? new Float32Array(dim) : null;
    this.k.rmsNormBackward(f32(dy), f32(x), f32(w), f32(rstd), f32(dx), tmp, rows, dim);
    if (dw && tmp) {
      const g = f32(dw);
      for (let i = 0; i < dim; i++) g[i]! += tmp[i]!;
    }
  }

  rope(x: Buf, cos: Buf, sin: Buf, y: Buf, T: number, heads: number, hd: number, inverse: boolean): void {
    // The reference reads each row's partner values: in place, it must read a copy.
    const src = x === y ? f32(x).slice() : f32(x);
    this.k.rope(src, f32(cos), f32(sin), f32(y), T, heads, hd, inverse);
  }

  swigluForward(g: Buf, u: Buf, y: Buf, n: number): void {
    this.k.swigluForward(f32(g), f32(u), f32(y), n);
  }

  swigluBackward(dy: Buf, g: Buf, u: Buf, dg: Buf, du: Buf, n: number): void {
    this.k.swigluBackward(f32(dy), f32(g), f32(u), f32(dg), f32(du), n);
  }

  attentionForward(q: Buf, k: Buf, v: Buf, seg: Buf | null, out: Buf, lse: Buf, d: AttnDims, scale: number) {
    this.k.attentionForward(
      f32(q),
      f32(k),
      f32(v),
      seg && i32(seg),
      f32(out),
      f32(lse),
      d.B,
      d.S,
      d.K,
      d.H,
      d.KV,
      d.hd,
      scale,
    );
  }

  attentionBackward(
    q: Buf,
    k: Buf,
    v: Buf,
    seg: Buf | null,
    out: Buf,
    lse: Buf,
    dout: Buf,
    dq: Buf,
    dk: Buf,
    dv: Buf,
    d: AttnDims,
    scale: number,
  ): void {
    this.k.attentionBackward(
      f32(q),
      f32(k),
      f32(v),
      seg && i32(seg),
      f32(out),
      f32(lse),
      f32(dout),
      f32(dq),
      f32(dk),
      f32(dv),
      d.B,
      d.S,
      d.K,
      d.H,
      d.KV,
      d.hd,
      scale,
    );
  }

  crossEntropyRows(
    logits: Buf,
    targets: Buf,
    rows: number,
    V: number,
    gradScale: number,
    grad: Buf | null,
    rowLoss: Buf,
  ): void {
    const l = f32(logits);
    const t = i32(targets);
    const g = grad && f32(grad);
    const out = f32(rowLoss);
    for (let r = 0; r < rows; r++) {
      const row = (a: Float32Array) => a.subarray(r * V, (r + 1) * V);
      out[r] = this.k.crossEntropy(row(l), t.subarray(r, r + 1), 1, V, gradScale, g && row(g));
    }
  }

  adamw(
    p: Buf,
    g: Buf,
    m: Buf,
    v: Buf,
    lr: number,
    b1: number,
    b2: number,
    eps: number,
    wd: number,
    c1: number,
    c2: number,
    gradScale: number,
  ) {
    this.k.adamwInPlace(f32(p), f32(g), f32(m), f32(v), lr, b1, b2, eps, wd, c1, c2, gradScale);
  }

  nf4Dequantize(
    codes: Buf,
    absmax: Buf | null,
    absmaxCodes: Buf | null,
    absmaxScales: Buf | null,
    offset: number,
    blockSize: number,
    out: Buf,
  ): void {
    const tmp = new Float32Array(out.n);
    this.k.nf4Dequantize(
      (codes as HostBuf).data as Uint8Array,
      absmax && f32(absmax),
      absmaxCodes && ((absmaxCodes as HostBuf).data as Int8Array),
      absmaxScales && f32(absmaxScales),
      offset,
      blockSize,
      tmp,
    );
    this.k.bf16(tmp, u16(out));
  }

  embeddingGather(table: Buf, ids: Buf, out: Buf, T: number, dim: number): void {
    this.k.embeddingGather(u16(table), i32(ids).subarray(0, T), f32(out), table.n / dim, dim);
  }

  embeddingScatterAdd(dy: Buf, ids: Buf, dTable: Buf, T: number, dim: number): void {
    this.k.embeddingScatterAdd(f32(dy), i32(ids).subarray(0, T), f32(dTable), dTable.n / dim, dim);
  }

  copy(dst: Buf, src: Buf): void {
    if (dst.n !== src.n || dst.dtype !== src.dtype) throw new RangeError("copy: buffers differ");
    (dst as HostBuf).data.set((src as HostBuf).data as never);
  }

  axpy(dst: Buf, src: Buf, alpha: number): void {
    const d = f32(dst);
    const s = f32(src);
    for (let i = 0; i < d.length; i++) d[i]! += alpha * s[i]!;
  }

  addBias(y: Buf, b: Buf, rows: number, cols: number): void {
    const Y = f32(y);
    const B = f32(b);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) Y[r * cols + c]! += B[c]!;
  }

  biasGrad(db: Buf, dy: Buf, rows: number, cols: number): void {
    const D = f32(db);
    const Y = f32(dy);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) D[c]! += Y[r * cols + c]!;
  }

  sumSquares(x: Buf): number {
    let s = 0;
    for (const v of f32(x)) s += v * v;
    return s;
  }

  sumSquaresMany(xs: Buf[]): number[] {
    return xs.map((x) => this.sumSquares(x));
  }
}
