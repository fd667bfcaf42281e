// The cuda engine's compute seam: buffers and the ops its step is composed of. The device backend runs
// them on the GPU (cudaMalloc'd buffers, kernels.cu, cuBLASLt); the host backend runs the same per-element
// math (math.h through the host add-on) on typed arrays, so CI checks the step's orchestration on the CPU.
// Everything runs in call order (one stream); only `download`, `sumSquares(Many)` and `crossEntropy` return
// values (and wait for the stream): a step reads back once, at its end.

export type DType = "f32" | "bf16" | "i32" | "u8" | "i8";

/** An opaque buffer of `n` values of `dtype` (device memory or a host typed array). */
export interface Buf {
  readonly dtype: DType;
  readonly n: number;
}

/** Timing events on the device's stream: read() gives the GPU ms between consecutive marks and restarts. */
export interface GpuTimer {
  mark(): void;
  read(): number[];
}

export type HostArray = Float32Array | Uint16Array | Int32Array | Uint8Array | Int8Array;

export interface AttnDims {
  B: number;
  S: number;
  K: number;
  H: number;
  KV: number;
  hd: number;
}

export interface ArenaMemory {
  /** Bytes of the reserved arena (0: none), of its blocks in use, and in use outside it. */
  reservedBytes: number;
  arenaBytes: number;
  outsideBytes: number;
  deviceFreeBytes: number;
  deviceTotalBytes: number;
}

export interface CudaOps {
  readonly kind: "device" | "host";
  describe(): string;
  /** A zeroed buffer. */
  alloc(dtype: DType, n: number): Buf;
  /**
   * A buffer whose values are undefined until written (no memset): for outputs the next op writes whole.
   * The host backend fills it with NaN (f32, bf16) so that a read before the write shows in tests.
   */
  scratch(dtype: DType, n: number): Buf;
  /** Reserves `bytes` at once that later allocs are sub-allocated from (the device's arena; 0: none). */
  reserve?(bytes: number): void;
  /** The arena's figures and the device's free and total bytes (a backend that reserves). */
  arena?(): ArenaMemory;
  /** `n` values of `b` from `offset` (sharing its memory; freeing the view frees nothing). */
  view(b: Buf, offset: number, n: number): Buf;
  free(b: Buf): void;
  upload(b: Buf, data: HostArray): void;
  download(b: Buf): HostArray;
  zero(b: Buf): void;
  /** Bytes held now and at most since creation. */
  memory(): { bytes: number; peakBytes: number; detail: string };
  /** Waits until every op issued so far has run (the profiler's per-op timing; host: nothing to wait for). */
  sync(): void;
  /** The device's own clock for the profiler (events on the stream), or null (host backend). */
  gpuTimer(): GpuTimer | null;

  /** dst (bf16) = round-to-nearest-even of src (f32). */
  toBf16(src: Buf, dst: Buf): void;
  /**
   * Row-major C[M,N] (f32) = alpha op(A) op(B) + beta C; A, B both bf16 (tensor cores) or both f32 (the
   * small LoRA products); op(A) [M,K] (A stored [K,M] when ta).
   */
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
  ): void;
  rmsNormForward(x: Buf, w: Buf, y: Buf, rstd: Buf, rows: number, dim: number, eps: number): void;
  /** dx is written; dw (when given) is added to. */
  rmsNormBackward(
    dy: Buf,
    x: Buf,
    w: Buf,
    rstd: Buf,
    dx: Buf,
    dw: Buf | null,
    rows: number,
    dim: number,
  ): void;
  rope(x: Buf, cos: Buf, sin: Buf, y: Buf, T: number, heads: number, hd: number, inverse: boolean): void;
  swigluForward(g: Buf, u: Buf, y: Buf, n: number): void;
  swigluBackward(dy: Buf, g: Buf, u: Buf, dg: Buf, du: Buf, n: number): void;
  attentionForward(
    q: Buf,
    k: Buf,
    v: Buf,
    seg: Buf | null,
    out: Buf,
    lse: Buf,
    d: AttnDims,
    scale: number,
  ): void;
  /** dq, dk and dv are written. */
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
  ): void;
  /** rowLoss[r] (f32) = row r's loss (0 where the target is -100); grad (may be logits) = gradScale dLoss/dlogits; no read-back. */
  crossEntropyRows(
    logits: Buf,
    targets: Buf,
    rows: number,
    V: number,
    gradScale: number,
    grad: Buf | null,
    rowLoss: Buf,
  ): void;
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
  ): void;
  /** NF4 codes and constants -> bf16 values (n = out.n). */
  nf4Dequantize(
    codes: Buf,
    absmax: Buf | null,
    absmaxCodes: Buf | null,
    absmaxScales: Buf | null,
    offset: number,
    blockSize: number,
    out: Buf,
  ): void;
  /** out[t] = f32 of bf16 table row ids[t]. */
  embeddingGather(table: Buf, ids: Buf, out: Buf, T: number, dim: number): void;
  embeddingScatterAdd(dy: Buf, ids: Buf, dTable: Buf, T: number, dim: number): void;
  /** dst = src (same dtype and size). */
  copy(dst: Buf, src: Buf): void;
  /** dst += alpha src (f32). */
  axpy(dst: Buf, src: Buf, alpha: number): void;
  /** y[r, c] += b[c]. */
  addBias(y: Buf, b: Buf, rows: number, cols: number): void;
  /** db[c] += sum over rows of dy[r, c]. */
  biasGrad(db: Buf, dy: Buf, rows: number, cols: number): void;
  sumSquares(x: Buf): number;
  /** Σ x² of each buffer (f32), read back together (one wait for the stream, not one per buffer). */
  sumSquaresMany(xs: Buf[]): number[];
}

/** The typed array of a dtype. */
export function hostArray(dtype: DType, n: number): HostArray {
  switch (dtype) {
    case "f32":
      return new Float32Array(n);
    case "bf16":
      return new Uint16Array(n);
    case "i32":
      return new Int32Array(n);
    case "u8":
      return new Uint8Array(n);
    case "i8":
      return new Int8Array(n);
  }
}

export const BYTES: Record<DType, number> = { f32: 4, bf16: 2, i32: 4, u8: 1, i8: 1 };
