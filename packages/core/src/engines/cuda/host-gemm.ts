// A plain float32 GEMM with @sftkit/native's sgemmEx signature (row-major, leading dimensions), for the
// few host-side products the cuda engine needs outside its backend (LoRA deltas when writing artefacts).
export function hostGemm(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  M: number,
  N: number,
  K: number,
  ta: boolean,
  tb: boolean,
  alpha: number,
  beta: number,
  lda: number,
  ldb: number,
  ldc: number,
): void {
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++)
        s += (ta ? a[k * lda + i]! : a[i * lda + k]!) * (tb ? b[j * ldb + k]! : b[k * ldb + j]!);
      const at = i * ldc + j;
      c[at] = alpha * s + (beta === 0 ? 0 : beta * c[at]!);
    }
}
