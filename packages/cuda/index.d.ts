// @sftkit/cuda: the optional CUDA add-on (kernels, cuBLASLt GEMMs) and its host test twin.

export interface CudaDevice {
  name: string;
  major: number;
  minor: number;
  bytes: number;
}

export interface CudaProbe {
  driver: boolean;
  /** Why there is no usable driver or GPU ("" when there is). */
  driverError: string;
  driverVersion: number;
  deviceCount: number;
  device?: CudaDevice;
}

export interface SelfTestResult {
  name: string;
  /** max |gpu - host| / max |host| */
  maxError: number;
  tolerance: number;
  ok: boolean;
  /** A CUDA or cuBLASLt failure, when one happened. */
  error?: string;
}

/** A number the add-on reads as a double; every other number argument is read as an integer (checked by bindings.test.ts). */
export type Float = number;

/** A device buffer (an N-API external over device memory); opaque. */
export interface CudaBuffer {
  readonly __cudaBuffer: never;
}

/** What the device's allocator holds: see CudaDeviceOps.memory. */
export interface CudaDeviceMemory {
  /** Bytes in use (arena and outside it) and at most since the last resetPeak. */
  inUse: number;
  peak: number;
  /** Freed blocks outside the arena kept for reuse. */
  pooled: number;
  /** The reserved arena's bytes (0: none), those of its blocks in use, and its largest free range. */
  reserved: number;
  arenaInUse: number;
  arenaLargestFree: number;
  /** Bytes in use outside the arena (none reserved, or it could not hold a block). */
  outside: number;
  /** cudaMemGetInfo's free and total. */
  deviceFree: number;
  deviceTotal: number;
}

/** An arena of the host test add-on (src/arena.h over offsets); opaque. */
export interface CudaArena {
  readonly __cudaArena: never;
}

/**
 * The cuda engine's device ops (src/device.cc), on one stream: buffers sub-allocated from one reserved
 * arena (else from a caching allocator over cudaMalloc), and one
 * call per kernel launcher or cuBLASLt GEMM. Sizes are in values unless named bytes; layouts as CudaHostAddon.
 */
export interface CudaDeviceOps {
  /** Selects device 0, creates the stream and cuBLASLt's workspace; returns whether cuBLASLt is open. */
  init(): boolean;
  /** A buffer of `bytes` (rounded up to 512), zeroed unless `zeroed` is false (then its values are undefined):
   * from the arena when one is reserved and holds it. */
  alloc(bytes: number, zeroed?: boolean): CudaBuffer;
  /**
   * Reserves `bytes` in one cudaMalloc that later allocs are sub-allocated from (best fit, free neighbours
   * merged); 0 reserves none. The arena it replaces is freed once its last buffer is. Throws, reserving
   * nothing, when the GPU's free memory cannot hold it and 256 MiB beside it (cuBLASLt, temporaries).
   */
  reserve(bytes: number): void;
  /** `bytes` of `buf` from `offsetBytes`, sharing its memory. */
  view(buf: CudaBuffer, offsetBytes: number, bytes: number): CudaBuffer;
  /** Returns an owned buffer to its arena or the allocator's cache (a view: nothing). */
  free(buf: CudaBuffer): void;
  upload(buf: CudaBuffer, src: Float32Array | Uint16Array | Int32Array | Uint8Array | Int8Array): void;
  download(buf: CudaBuffer, dst: Float32Array | Uint16Array | Int32Array | Uint8Array | Int8Array): void;
  zero(buf: CudaBuffer): void;
  /** Bytes in use and at most (the allocator's tally), the arena's, cached, and cudaMemGetInfo's free and total. */
  memory(): CudaDeviceMemory;
  sync(): void;
  /** The peak restarts from what is in use now (each engine tallies its own). */
  resetPeak(): void;
  toBf16(src: CudaBuffer, dst: CudaBuffer, n: number): void;
  /** Row-major C (f32) = alpha op(A) op(B) + beta C over bf16 A, B (or both f32 when `f32`); cuBLASLt, fp32 accumulation. */
  gemm(
    ta: boolean,
    tb: boolean,
    M: number,
    N: number,
    K: number,
    A: CudaBuffer,
    B: CudaBuffer,
    C: CudaBuffer,
    alpha: Float,
    beta: Float,
    f32: boolean,
  ): void;
  rmsNormForward(
    x: CudaBuffer,
    w: CudaBuffer,
    y: CudaBuffer,
    rstd: CudaBuffer,
    rows: number,
    dim: number,
    eps: Float,
  ): void;
  /** dx written; dw (when given) added to. */
  rmsNormBackward(
    dy: CudaBuffer,
    x: CudaBuffer,
    w: CudaBuffer,
    rstd: CudaBuffer,
    dx: CudaBuffer,
    dw: CudaBuffer | null,
    rows: number,
    dim: number,
  ): void;
  rope(
    x: CudaBuffer,
    cos: CudaBuffer,
    sin: CudaBuffer,
    y: CudaBuffer,
    T: number,
    heads: number,
    hd: number,
    inverse: boolean,
  ): void;
  swigluForward(g: CudaBuffer, u: CudaBuffer, y: CudaBuffer, n: number): void;
  swigluBackward(
    dy: CudaBuffer,
    g: CudaBuffer,
    u: CudaBuffer,
    dg: CudaBuffer,
    du: CudaBuffer,
    n: number,
  ): void;
  attentionForward(
    q: CudaBuffer,
    k: CudaBuffer,
    v: CudaBuffer,
    seg: CudaBuffer | null,
    out: CudaBuffer,
    lse: CudaBuffer,
    B: number,
    S: number,
    K: number,
    H: number,
    KV: number,
    hd: number,
    scale: Float,
  ): void;
  /** dq, dk, dv written. */
  attentionBackward(
    q: CudaBuffer,
    k: CudaBuffer,
    v: CudaBuffer,
    seg: CudaBuffer | null,
    out: CudaBuffer,
    lse: CudaBuffer,
    dout: CudaBuffer,
    dq: CudaBuffer,
    dk: CudaBuffer,
    dv: CudaBuffer,
    B: number,
    S: number,
    K: number,
    H: number,
    KV: number,
    hd: number,
    scale: Float,
  ): void;
  /** Summed loss of rows whose target is not -100 (synchronises); grad may be logits. */
  crossEntropy(
    logits: CudaBuffer,
    targets: CudaBuffer,
    rows: number,
    V: number,
    gradScale: Float,
    grad: CudaBuffer | null,
  ): number;
  /** rowLoss[r] (f32) = row r's loss (0 for target -100); grad as crossEntropy's; does not synchronise. */
  crossEntropyRows(
    logits: CudaBuffer,
    targets: CudaBuffer,
    rows: number,
    V: number,
    gradScale: Float,
    grad: CudaBuffer | null,
    rowLoss: CudaBuffer,
  ): void;
  adamw(
    p: CudaBuffer,
    g: CudaBuffer,
    m: CudaBuffer,
    v: CudaBuffer,
    n: number,
    lr: Float,
    b1: Float,
    b2: Float,
    eps: Float,
    wd: Float,
    c1: Float,
    c2: Float,
    gradScale: Float,
  ): void;
  nf4Dequantize(
    codes: CudaBuffer,
    absmax: CudaBuffer | null,
    absmaxCodes: CudaBuffer | null,
    absmaxScales: CudaBuffer | null,
    offset: Float,
    blockSize: number,
    outBf16: CudaBuffer,
    n: number,
  ): void;
  embeddingGather(table: CudaBuffer, ids: CudaBuffer, out: CudaBuffer, T: number, dim: number): void;
  embeddingScatterAdd(dy: CudaBuffer, ids: CudaBuffer, dTable: CudaBuffer, T: number, dim: number): void;
  /** The first `bytes` of dst = those of src. */
  copy(dst: CudaBuffer, src: CudaBuffer, bytes: number): void;
  axpy(dst: CudaBuffer, src: CudaBuffer, alpha: Float, n: number): void;
  addBias(y: CudaBuffer, b: CudaBuffer, rows: number, cols: number): void;
  biasGrad(db: CudaBuffer, dy: CudaBuffer, rows: number, cols: number): void;
  /** Synchronises. */
  sumSquares(x: CudaBuffer, n: number): number;
  /** Σ x² of the first counts[i] floats of each buffer; one synchronisation for all. */
  sumSquaresMany(xs: CudaBuffer[], counts: number[]): number[];
  /** Records a timing event on the stream (the profiler's). */
  timingMark(): void;
  /** Synchronises; the GPU ms between consecutive events recorded since the last read (one fewer than marks). */
  timingRead(): number[];
}

export interface CudaAddon {
  /** The training step's device ops. */
  device: CudaDeviceOps;
  /** Opens libcuda.so.1 and describes device 0 (cuInit only: no context). */
  probe(): CudaProbe;
  /** Opens cuBLASLt (the first one that opens is kept). */
  openCublasLt(path: string): { ok: boolean; version?: number; error?: string };
  /** Every kernel on the GPU against the host reference; cuBLASLt's GEMMs too once opened. */
  selfTest(): SelfTestResult[];
  /** Times cuBLASLt's GEMMs (once opened) and the kernels at a Qwen2.5-0.5B step's shapes. */
  bench(): { name: string; ms: number; tflops: number; error?: string }[];
}

/** The kernels' shared arithmetic (src/math.h) compiled for the CPU; argument order as @sftkit/native. */
export interface CudaHostAddon {
  /** src/arena.h (the device's sub-allocator) over offsets, for tests. */
  arenaNew(capacity: number): CudaArena;
  /** The block's offset (512-aligned, best fit), or -1 when no free range holds it. */
  arenaAlloc(arena: CudaArena, bytes: number): number;
  /** Whether a live block started at `offset` (it is freed and merged with free neighbours). */
  arenaFree(arena: CudaArena, offset: number): boolean;
  arenaStats(arena: CudaArena): {
    capacity: number;
    inUse: number;
    peak: number;
    live: number;
    freeBlocks: number;
    largestFree: number;
  };
  /** bf16(src f32, dst u16) rounds to nearest even; bf16(src u16, dst f32) widens. */
  bf16(src: Float32Array | Uint16Array, dst: Uint16Array | Float32Array): void;
  rmsNormForward(
    x: Float32Array,
    w: Float32Array,
    y: Float32Array,
    rstd: Float32Array,
    rows: number,
    dim: number,
    eps: number,
  ): void;
  /** dw (when given) is overwritten. */
  rmsNormBackward(
    dy: Float32Array,
    x: Float32Array,
    w: Float32Array,
    rstd: Float32Array,
    dx: Float32Array,
    dw: Float32Array | null,
    rows: number,
    dim: number,
  ): void;
  rope(
    x: Float32Array,
    cos: Float32Array,
    sin: Float32Array,
    y: Float32Array,
    T: number,
    heads: number,
    hd: number,
    inverse: boolean,
  ): void;
  swigluForward(g: Float32Array, u: Float32Array, y: Float32Array, n: number): void;
  swigluBackward(
    dy: Float32Array,
    g: Float32Array,
    u: Float32Array,
    dg: Float32Array,
    du: Float32Array,
    n: number,
  ): void;
  /** Causal GQA attention with prefix keys and segments (native flashAttentionForward's layouts and rule). */
  attentionForward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    segments: Int32Array | null,
    out: Float32Array,
    lse: Float32Array,
    B: number,
    S: number,
    K: number,
    H: number,
    KV: number,
    hd: number,
    scale: number,
  ): void;
  attentionBackward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    segments: Int32Array | null,
    out: Float32Array,
    lse: Float32Array,
    dout: Float32Array,
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    B: number,
    S: number,
    K: number,
    H: number,
    KV: number,
    hd: number,
    scale: number,
  ): void;
  /** Summed loss over rows whose target is not -100; grad (when given) = gradScale * dLoss/dlogits. */
  crossEntropy(
    logits: Float32Array,
    targets: Int32Array,
    rows: number,
    V: number,
    gradScale: number,
    grad: Float32Array | null,
  ): number;
  adamwInPlace(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    c1: number,
    c2: number,
    gradScale: number,
  ): void;
  /** NF4 codes (nf4.ts's layout) with float32 absmax, or double-quantized absmax codes * scales + offset. */
  nf4Dequantize(
    codes: Uint8Array,
    absmax: Float32Array | null,
    absmaxCodes: Int8Array | null,
    absmaxScales: Float32Array | null,
    offset: number,
    blockSize: number,
    out: Float32Array,
  ): void;
  /** out[t] = float32 of bf16 table row ids[t]. */
  embeddingGather(table: Uint16Array, ids: Int32Array, out: Float32Array, V: number, dim: number): void;
  embeddingScatterAdd(dy: Float32Array, ids: Int32Array, dTable: Float32Array, V: number, dim: number): void;
}

export interface CudaBuildStatus {
  ok: boolean;
  reason?: string;
  nvcc?: string;
  archs?: string[];
  ptx?: string;
  file?: string;
  host?: { ok: boolean; reason?: string; compiler?: string };
  seconds: number;
}

export interface CudaAvailability {
  available: boolean;
  reason: string;
  device?: CudaDevice;
  /** The cuBLASLt library opened. */
  cublasLt?: string;
}

export function buildStatus(): CudaBuildStatus | null;
export function loadCuda(): { addon: CudaAddon } | { reason: string };
export function loadCudaHost(): { addon: CudaHostAddon } | { reason: string };
export function cublasLtCandidates(env?: NodeJS.ProcessEnv): string[];
export function cudaAvailability(env?: NodeJS.ProcessEnv): CudaAvailability;
