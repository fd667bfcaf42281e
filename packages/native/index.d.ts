// Every array argument is a view (often of the tfjs wasm heap); kernels write outputs in place.
// Shapes are row-major; "T" is tokens (batch * seqLen).
export interface NativeInfo {
  threads: number;
  /** openblas_get_parallel(): 0 sequential, 1 pthreads, 2 OpenMP; -1 another BLAS. */
  blasParallel: number;
  blasConfig: string;
  openmpMaxThreads: number;
}

export interface NativeAddon {
  /** c[i] = op(a[i]) @ op(b[i]), i < batch; a stride of 0 broadcasts that operand. */
  sgemm(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
    batch: number,
    strideA: number,
    strideB: number,
    strideC: number,
  ): void;
  setThreads(n: number): void;
  info(): NativeInfo;

  /**
   * Causal attention. q [B*S, H*hd]; k, v [B*K, KV*hd] (K keys per row: a prefix of K - S
   * positions, then the row's own S); mask: additive [B, S, K] or null (plain causal over the
   * row's own keys, every prefix key visible). Writes out [B*S, H*hd] and probs [B, H, S, K].
   */
  attentionForward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    mask: Float32Array | null,
    out: Float32Array,
    probs: Float32Array,
    B: number,
    S: number,
    K: number,
    H: number,
    KV: number,
    hd: number,
    scale: number,
  ): void;
  /** Gradients of attentionForward: writes dq [B*S, H*hd], dk and dv [B*K, KV*hd]. */
  attentionBackward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    probs: Float32Array,
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

  /** y = x * rsqrt(mean(x^2) + eps) * w over rows of x [rows, dim]; rstd [rows] is saved. */
  rmsNormForward(
    x: Float32Array,
    w: Float32Array,
    y: Float32Array,
    rstd: Float32Array,
    rows: number,
    dim: number,
    eps: number,
  ): void;
  /** dx [rows, dim]; dw [dim] (skipped when null). */
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
  /** y = silu(g) * u, elementwise over n values. */
  swigluForward(g: Float32Array, u: Float32Array, y: Float32Array, n: number): void;
  swigluBackward(
    dy: Float32Array,
    g: Float32Array,
    u: Float32Array,
    dg: Float32Array,
    du: Float32Array,
    n: number,
  ): void;
  /**
   * Rotate-half RoPE on x [T, heads * hd] with cos/sin [T, hd]: y = x*cos + rotate_half(x)*sin,
   * rotate_half(x) = cat(-x[hd/2:], x[:hd/2]) per head. inverse: the gradient, the transposed map
   * dx = dy*cos + rotate_half^T(dy*sin) with rotate_half^T(v) = cat(v[hd/2:], -v[:hd/2]) (the
   * rotation by -theta when cos/sin repeat their halves). y may be x.
   */
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
  /**
   * One AdamW update of n values into new arrays: m' = b1 m + (1-b1) g, v' = b2 v + (1-b2) g^2,
   * p' = p (1 - lr wd) - (lr / c1) m' / (sqrt(v' / c2) + eps), with c1, c2 the bias corrections.
   */
  adamw(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    pOut: Float32Array,
    mOut: Float32Array,
    vOut: Float32Array,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    c1: number,
    c2: number,
  ): void;
  /**
   * Softmax cross-entropy over logits [rows, V]: returns the summed loss of the rows (log-sum-exp
   * minus the target's logit, summed in double) and, when `grad`, writes softmax - onehot(target)
   * into `out` [rows, V] when given (logits untouched), else over logits in place. Targets must
   * lie in [0, V).
   */
  /** out[i] = table[code i] * absmax[i / blockSize]: NF4 codes, two per byte, high nibble first. */
  nf4Dequantize(
    codes: Uint8Array,
    absmax: Float32Array,
    table: Float32Array,
    out: Float32Array,
    blockSize: number,
  ): void;
  crossEntropy(
    logits: Float32Array,
    targets: Int32Array,
    rows: number,
    V: number,
    grad: boolean,
    out?: Float32Array | null,
  ): number;
}

export function loadNative(): { addon: NativeAddon } | { reason: string };
export function buildStatus(): {
  ok: boolean;
  reason?: string;
  blas?: string;
  compiler?: string;
  file?: string;
  seconds: number;
} | null;
