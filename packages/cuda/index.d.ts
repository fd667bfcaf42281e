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

export interface CudaAddon {
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
