// Every array argument is a view (often of the tfjs wasm heap, or a plain JS-allocated typed array
// for the native engine); kernels write outputs in place. Shapes are row-major; "T" is tokens
// (batch * seqLen). Sizes are checked: a short array or a bad dimension throws a RangeError naming it.

/** Storage dtypes of a 16-bit weight. */
export type HalfDtype = "bf16" | "f16";

/**
 * A weight [rows, cols] (row-major) in its storage dtype; kernels convert it to float32 tile by tile
 * into reused per-thread scratch (compute is always float32). NF4 is laid out as
 * packages/core/src/model/adapters/nf4.ts's NF4Tensor (codes two per byte, high nibble first; one
 * absmax per `blockSize` values, float32 or double-quantized int8 codes * scale per 256 blocks +
 * offset), so `{ dtype: "nf4", ...nf4Tensor }` is one; `table` defaults to the NF4 code values.
 */
export type NativeWeight =
  | { dtype: "f32"; data: Float32Array }
  | { dtype: HalfDtype; data: Uint16Array }
  | {
      dtype: "nf4";
      codes: Uint8Array;
      blockSize: number;
      absmax: Float32Array | null;
      absmaxCodes?: Int8Array | null;
      absmaxScales?: Float32Array | null;
      absmaxOffset?: number;
      table?: Float32Array;
    };

/**
 * Trainable rows of a frozen table (new tokens' embedding or head rows): vocabulary id v with
 * rowOf[v] >= 0 reads row rowOf[v] of data [rows, dim] (float32) in place of the stored table's row,
 * and its gradient is added to grad [rows, dim] when given. rowOf [V]; its rows must be distinct.
 */
export interface TokenRows {
  rowOf: Int32Array;
  data: Float32Array;
  grad?: Float32Array | null;
}

export interface CrossEntropyResult {
  /** Summed loss (natural log) over the rows whose target is not -100. */
  loss: number;
  /** How many rows were trained (target not -100). */
  count: number;
}
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
  /**
   * c[M,N] = alpha * op(a) @ op(b) + beta * c, row-major with explicit leading dimensions (op(a) is
   * [M,K]: a is [M, lda] untransposed, [K, lda] transposed). beta = 1 accumulates (dW += dy^T x).
   */
  sgemmEx(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
    alpha: number,
    beta: number,
    lda: number,
    ldb: number,
    ldc: number,
  ): void;
  setThreads(n: number): void;
  info(): NativeInfo;

  /** y[T,N] (+)= x[T,K] @ W[N,K]^T, W in its storage dtype (converted a tile of rows at a time). */
  linearForward(
    x: Float32Array,
    w: NativeWeight,
    y: Float32Array,
    T: number,
    N: number,
    K: number,
    accumulate: boolean,
  ): void;
  /** dx[T,K] (+)= dy[T,N] @ W[N,K], W in its storage dtype (converted a tile of columns at a time). */
  linearBackwardInput(
    dy: Float32Array,
    w: NativeWeight,
    dx: Float32Array,
    T: number,
    N: number,
    K: number,
    accumulate: boolean,
  ): void;
  /** dW[N,K] (+)= dy[T,N]^T @ x[T,K] for a float32 trainable weight. */
  linearBackwardWeight(
    dy: Float32Array,
    x: Float32Array,
    dW: Float32Array,
    T: number,
    N: number,
    K: number,
    accumulate: boolean,
  ): void;

  /** dst[i] = float32 of src[i] (bf16 or IEEE half bits), i < src.length. */
  toFloat32(src: Uint16Array, dtype: HalfDtype, dst: Float32Array): void;
  /** dst[i] = src[i] rounded to bf16 / f16 bits (round to nearest even; NaN stays NaN), i < src.length. */
  fromFloat32(src: Float32Array, dtype: HalfDtype, dst: Uint16Array): void;
  /**
   * out[t, :] = float32 of table row ids[t] (table [V, dim] in any storage dtype), or the trainable
   * row's data when `rows` maps that id; ids in [0, V).
   */
  embeddingGather(
    table: NativeWeight,
    ids: Int32Array,
    out: Float32Array,
    V: number,
    dim: number,
    rows?: TokenRows | null,
  ): void;
  /**
   * dTable[row(ids[t]), :] += dy[t, :] for t < ids.length, with row(id) = rowOf ? rowOf[id] : id;
   * rowOf [V] maps a vocabulary id to its gradient row (-1: not trained, skipped), so the trainable
   * new-token rows can have a gradient of their own size. ids in [0, V).
   */
  embeddingScatterAdd(
    dy: Float32Array,
    ids: Int32Array,
    dTable: Float32Array,
    V: number,
    dim: number,
    rowOf: Int32Array | null,
  ): void;

  /**
   * Flash-style causal attention, memory linear in S: same layouts and scale as attentionForward,
   * the mask given as segments [B*S] (a segment id per token, 0 = padding) or null (one segment):
   * a token sees the K - S prefix keys and the earlier tokens of its own segment (itself included);
   * a padding token sees only itself (batch.ts attentionMask's rule). Writes out [B*S, H*hd] and
   * lse [B, H, S], the log-sum-exp of each row's scaled scores (all the backward needs).
   * `window` > 0 (sliding-window attention) also hides the keys `window` or more places before the
   * query (the prefix counting as the places just before each segment); `softcap` > 0 replaces each
   * scaled score x by softcap * tanh(x / softcap) (Gemma 2's attention-logit soft-capping).
   */
  flashAttentionForward(
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
    window?: number,
    softcap?: number,
  ): void;
  /**
   * Gradients of flashAttentionForward (probabilities recomputed blockwise from lse): writes dq
   * [B*S, H*hd], dk and dv [B*K, KV*hd] (overwritten, not accumulated); the same window and softcap.
   */
  flashAttentionBackward(
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
    window?: number,
    softcap?: number,
  ): void;

  /**
   * Fused lm-head + softmax cross-entropy over h [T, d] and head W [V, d] (any storage dtype; the
   * embedding when tied), in chunks of rows so no [T, V] logits exist. targets [T], -100 = ignored
   * (those rows get a zero gradient). The gradient is that of gradScale * (summed loss): dh [T, d]
   * written (or added when accumulate), dW [V, d] always added to (float32 trainable head; null
   * skips it, as does dh null). `rows`: trainable head rows read from rows.data, their gradient
   * added to rows.grad (a frozen bf16 head with float32 new-token rows). Returns the summed loss and
   * the trained row count.
   */
  lmHeadCrossEntropy(
    h: Float32Array,
    w: NativeWeight,
    targets: Int32Array,
    dh: Float32Array | null,
    dW: Float32Array | null,
    T: number,
    V: number,
    d: number,
    gradScale: number,
    accumulate: boolean,
    rows?: TokenRows | null,
    /** > 0: each logit z becomes softcap * tanh(z / softcap) first (Gemma 2's final-logit soft-capping). */
    softcap?: number,
  ): CrossEntropyResult;

  /** The same AdamW update as adamw, in place on p, m, v, with g multiplied by gradScale (clipping). */
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
  /** Sum of x[i]^2 in double (for the global gradient norm). */
  sumSquares(x: Float32Array): number;

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
  /** y = gelu_tanh(g) * u (GeGLU: Gemma's MLP; transformers' gelu_pytorch_tanh), elementwise over n values. */
  gegluForward(g: Float32Array, u: Float32Array, y: Float32Array, n: number): void;
  /** dg = dy * u * gelu_tanh'(g), du = dy * gelu_tanh(g) (overwritten). */
  gegluBackward(
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
