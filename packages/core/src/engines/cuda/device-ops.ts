// The device backend of the cuda engine's ops: @sftkit/cuda's `device` bindings (src/device.cc) over
// GPU buffers; sizes here are values, the bindings take bytes for buffers.
import type { CudaAddon, CudaBuffer, CudaDeviceOps } from "@sftkit/cuda";
import type { CudaPackage } from "./load.ts";
import {
  type ArenaMemory,
  type AttnDims,
  type Buf,
  BYTES,
  type CudaOps,
  type DType,
  type GpuTimer,
  type HostArray,
  hostArray,
} from "./ops.ts";

class DeviceBuf implements Buf {
  constructor(
    readonly dtype: DType,
    readonly n: number,
    readonly h: CudaBuffer,
  ) {}
}

const h = (b: Buf): CudaBuffer => (b as DeviceBuf).h;
const hn = (b: Buf | null): CudaBuffer | null => (b ? (b as DeviceBuf).h : null);

export class DeviceOps implements CudaOps {
  readonly kind = "device";

  constructor(
    private readonly d: CudaDeviceOps,
    private readonly what: string,
  ) {}

  describe(): string {
    return `GPU: ${this.what}`;
  }

  alloc(dtype: DType, n: number): Buf {
    return new DeviceBuf(dtype, n, this.d.alloc(n * BYTES[dtype]));
  }
  scratch(dtype: DType, n: number): Buf {
    return new DeviceBuf(dtype, n, this.d.alloc(n * BYTES[dtype], false));
  }
  reserve(bytes: number): void {
    this.d.reserve(bytes);
  }
  arena(): ArenaMemory {
    const m = this.d.memory();
    return {
      reservedBytes: m.reserved,
      arenaBytes: m.arenaInUse,
      outsideBytes: m.outside,
      deviceFreeBytes: m.deviceFree,
      deviceTotalBytes: m.deviceTotal,
    };
  }
  view(b: Buf, offset: number, n: number): Buf {
    const e = BYTES[b.dtype];
    return new DeviceBuf(b.dtype, n, this.d.view(h(b), offset * e, n * e));
  }
  free(b: Buf): void {
    this.d.free(h(b));
  }
  upload(b: Buf, data: HostArray): void {
    if (data.length !== b.n) throw new RangeError(`upload: ${data.length} values into a buffer of ${b.n}`);
    this.d.upload(h(b), data);
  }
  download(b: Buf): HostArray {
    const out = hostArray(b.dtype, b.n);
    this.d.download(h(b), out);
    return out;
  }
  zero(b: Buf): void {
    this.d.zero(h(b));
  }
  memory() {
    const m = this.d.memory();
    const used = m.deviceTotal - m.deviceFree;
    return {
      bytes: m.inUse,
      peakBytes: m.peak,
      detail: `arena ${m.inUse} B in use, ${m.pooled} B cached; device ${used} of ${m.deviceTotal} B used`,
    };
  }
  sync(): void {
    this.d.sync();
  }
  gpuTimer(): GpuTimer | null {
    const d = this.d;
    // An add-on built before the timing bindings: none.
    if (typeof d.timingMark !== "function" || typeof d.timingRead !== "function") return null;
    return { mark: () => d.timingMark(), read: () => d.timingRead() };
  }
  toBf16(src: Buf, dst: Buf): void {
    this.d.toBf16(h(src), h(dst), src.n);
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
    this.d.gemm(ta, tb, M, N, K, h(A), h(B), h(C), alpha, beta, A.dtype === "f32");
  }
  rmsNormForward(x: Buf, w: Buf, y: Buf, rstd: Buf, rows: number, dim: number, eps: number): void {
    this.d.rmsNormForward(h(x), h(w), h(y), h(rstd), rows, dim, eps);
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
    this.d.rmsNormBackward(h(dy), h(x), h(w), h(rstd), h(dx), hn(dw), rows, dim);
  }
  rope(x: Buf, cos: Buf, sin: Buf, y: Buf, T: number, heads: number, hd: number, inverse: boolean): void {
    this.d.rope(h(x), h(cos), h(sin), h(y), T, heads, hd, inverse);
  }
  swigluForward(g: Buf, u: Buf, y: Buf, n: number): void {
    this.d.swigluForward(h(g), h(u), h(y), n);
  }
  swigluBackward(dy: Buf, g: Buf, u: Buf, dg: Buf, du: Buf, n: number): void {
    this.d.swigluBackward(h(dy), h(g), h(u), h(dg), h(du), n);
  }
  attentionForward(q: Buf, k: Buf, v: Buf, seg: Buf | null, out: Buf, lse: Buf, a: AttnDims, scale: number) {
    this.d.attentionForward(h(q), h(k), h(v), hn(seg), h(out), h(lse), a.B, a.S, a.K, a.H, a.KV, a.hd, scale);
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
    a: AttnDims,
    scale: number,
  ): void {
    this.d.attentionBackward(
      h(q),
      h(k),
      h(v),
      hn(seg),
      h(out),
      h(lse),
      h(dout),
      h(dq),
      h(dk),
      h(dv),
      a.B,
      a.S,
      a.K,
      a.H,
      a.KV,
      a.hd,
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
    if (rowLoss.dtype !== "f32" || rowLoss.n < rows)
      throw new RangeError("crossEntropyRows: rowLoss too small");
    this.d.crossEntropyRows(h(logits), h(targets), rows, V, gradScale, hn(grad), h(rowLoss));
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
    this.d.adamw(h(p), h(g), h(m), h(v), p.n, lr, b1, b2, eps, wd, c1, c2, gradScale);
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
    this.d.nf4Dequantize(
      h(codes),
      hn(absmax),
      hn(absmaxCodes),
      hn(absmaxScales),
      offset,
      blockSize,
      h(out),
      out.n,
    );
  }
  embeddingGather(table: Buf, ids: Buf, out: Buf, T: number, dim: number): void {
    this.d.embeddingGather(h(table), h(ids), h(out), T, dim);
  }
  embeddingScatterAdd(dy: Buf, ids: Buf, dTable: Buf, T: number, dim: number): void {
    this.d.embeddingScatterAdd(h(dy), h(ids), h(dTable), T, dim);
  }
  copy(dst: Buf, src: Buf): void {
    if (dst.n !== src.n || dst.dtype !== src.dtype) throw new RangeError("copy: buffers differ");
    this.d.copy(h(dst), h(src), src.n * BYTES[src.dtype]);
  }
  axpy(dst: Buf, src: Buf, alpha: number): void {
    this.d.axpy(h(dst), h(src), alpha, dst.n);
  }
  addBias(y: Buf, b: Buf, rows: number, cols: number): void {
    this.d.addBias(h(y), h(b), rows, cols);
  }
  biasGrad(db: Buf, dy: Buf, rows: number, cols: number): void {
    this.d.biasGrad(h(db), h(dy), rows, cols);
  }
  sumSquares(x: Buf): number {
    return this.d.sumSquares(h(x), x.n);
  }
  sumSquaresMany(xs: Buf[]): number[] {
    return this.d.sumSquaresMany(
      xs.map(h),
      xs.map((x) => x.n),
    );
  }
}

/** The device ops of a loaded @sftkit/cuda whose availability check passed (cuBLASLt is open). */
export function deviceOps(pkg: CudaPackage, what: string): DeviceOps {
  const r = pkg.loadCuda();
  if ("reason" in r) throw new Error(`cuda engine unavailable: ${r.reason}`);
  const d = (r.addon as CudaAddon).device;
  if (!d.init()) throw new Error("cuda engine: cuBLASLt is not open (check cudaAvailability first)");
  d.resetPeak();
  return new DeviceOps(d, what);
}
