// The CUDA kernels: indexing and reductions only; the arithmetic is math.h's, shared with the host
// reference that CI tests. Attention runs flash_tc.cu's tensor-core kernels or flash.cu's tiled ones where
// they apply (chooseAttention); the per-row kernels here (one thread per query row) take the rest.
#include "flash.h"
#include "kernels.h"
#include "math.h"

namespace sftc::gpu {
namespace {

constexpr int kThreads = 256;

inline unsigned blocksFor(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// Sum (or max) over the block's threads; every thread gets the result.
template <bool kMax>
__device__ float blockReduce(float v) {
  __shared__ float warps[32];
  for (int o = 16; o > 0; o >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, other) : v + other;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // `warps` may still be read from a previous call
  if (lane == 0) warps[warp] = v;
  __syncthreads();
  const int nw = (blockDim.x + 31) >> 5;
  v = lane < nw ? warps[lane] : (kMax ? -INFINITY : 0.0f);
  for (int o = 16; o > 0; o >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, other) : v + other;
  }
  return v;
}

__global__ void kBf16ToF32(const uint16_t* s, float* d, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) d[i] = sftc::bf16ToF32(s[i]);
}
__global__ void kF32ToBf16(const float* s, uint16_t* d, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) d[i] = sftc::f32ToBf16(s[i]);
}

__global__ void kRmsNormForward(const float* x, const float* w, float* y, float* rstd, int dim, float eps) {
  const float* xr = x + blockIdx.x * int64_t(dim);
  float ss = 0;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  const float rs = rmsRstd(blockReduce<false>(ss), dim, eps);
  if (threadIdx.x == 0) rstd[blockIdx.x] = rs;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) y[blockIdx.x * int64_t(dim) + i] = rmsY(xr[i], rs, w[i]);
}

__global__ void kRmsNormBackward(const float* dy, const float* x, const float* w, const float* rstd, float* dx,
                                 float* dw, int dim) {
  const int64_t o = blockIdx.x * int64_t(dim);
  float dot = 0;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) dot += w[i] * dy[o + i] * x[o + i];
  const float meanDot = blockReduce<false>(dot) / dim;
  const float rs = rstd[blockIdx.x];
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    dx[o + i] = rmsDx(dy[o + i], x[o + i], w[i], rs, meanDot);
    if (dw) atomicAdd(dw + i, rmsDw(dy[o + i], x[o + i], rs));
  }
}

__global__ void kRope(const float* x, const float* cos, const float* sin, float* y, int64_t n, int heads, int hd,
                      bool inverse) {
  const int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (e >= n) return;
  const int half = hd / 2;
  const int i = int(e % hd);
  const int64_t t = e / (int64_t(heads) * hd);
  const bool first = i < half;
  const int pi = first ? i + half : i - half;
  const int64_t rowStart = e - i;
  y[e] = ropeElem(x[e], x[rowStart + pi], cos[t * hd + i], sin[t * hd + i], sin[t * hd + pi], first, inverse);
}

__global__ void kSwigluForward(const float* g, const float* u, float* y, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) y[i] = swigluY(g[i], u[i]);
}
__global__ void kSwigluBackward(const float* dy, const float* g, const float* u, float* dg, float* du, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float d = dy[i], gi = g[i], ui = u[i];
  dg[i] = swigluDg(d, gi, ui);
  du[i] = swigluDu(d, gi);
}

// One thread per (b, h, s) query row.
__global__ void kAttentionForward(const float* q, const float* k, const float* v, const int32_t* seg, float* out,
                                  float* lse, AttnDims d, float scale) {
  const int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (r >= int64_t(d.B) * d.H * d.S) return;
  const int s = int(r % d.S), h = int((r / d.S) % d.H), b = int(r / (int64_t(d.S) * d.H));
  const int G = d.H / d.KV, qw = d.H * d.hd, kw = d.KV * d.hd;
  const float* qr = q + (int64_t(b) * d.S + s) * qw + h * d.hd;
  float acc[kMaxHeadDim];
  for (int i = 0; i < d.hd; i++) acc[i] = 0;
  OnlineSoftmax sm;
  for (int j = 0; j < d.K; j++) {
    if (!attnVisible(seg, b, d.S, d.K, s, j)) continue;
    const float* kr = k + (int64_t(b) * d.K + j) * kw + (h / G) * d.hd;
    const float* vr = v + (int64_t(b) * d.K + j) * kw + (h / G) * d.hd;
    float sc = 0;
    for (int i = 0; i < d.hd; i++) sc += qr[i] * kr[i];
    float rescale, p;
    sm.update(sc * scale, &rescale, &p);
    for (int i = 0; i < d.hd; i++) acc[i] = acc[i] * rescale + p * vr[i];
  }
  float* o = out + (int64_t(b) * d.S + s) * qw + h * d.hd;
  for (int i = 0; i < d.hd; i++) o[i] = acc[i] / sm.l;
  lse[(int64_t(b) * d.H + h) * d.S + s] = sm.lse();
}

__global__ void kAttentionBackward(const float* q, const float* k, const float* v, const int32_t* seg,
                                   const float* out, const float* lse, const float* dout, float* dq, float* dk,
                                   float* dv, AttnDims d, float scale) {
  const int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (r >= int64_t(d.B) * d.H * d.S) return;
  const int s = int(r % d.S), h = int((r / d.S) % d.H), b = int(r / (int64_t(d.S) * d.H));
  const int G = d.H / d.KV, qw = d.H * d.hd, kw = d.KV * d.hd;
  const int64_t qo = (int64_t(b) * d.S + s) * qw + h * d.hd;
  const float L = lse[(int64_t(b) * d.H + h) * d.S + s];
  float D = 0;
  for (int i = 0; i < d.hd; i++) D += dout[qo + i] * out[qo + i];
  float acc[kMaxHeadDim];
  for (int i = 0; i < d.hd; i++) acc[i] = 0;
  for (int j = 0; j < d.K; j++) {
    if (!attnVisible(seg, b, d.S, d.K, s, j)) continue;
    const int64_t ko = (int64_t(b) * d.K + j) * kw + (h / G) * d.hd;
    float sc = 0, dp = 0;
    for (int i = 0; i < d.hd; i++) {
      sc += q[qo + i] * k[ko + i];
      dp += dout[qo + i] * v[ko + i];
    }
    const float p = attnProb(sc * scale, L);
    const float ds = attnDScore(p, dp, D) * scale;
    for (int i = 0; i < d.hd; i++) {
      acc[i] += ds * k[ko + i];
      atomicAdd(dk + ko + i, ds * q[qo + i]);
      atomicAdd(dv + ko + i, p * dout[qo + i]);
    }
  }
  for (int i = 0; i < d.hd; i++) dq[qo + i] = acc[i];
}

// One block per row.
__global__ void kCrossEntropy(const float* logits, const int32_t* targets, int V, float gradScale, float* rowLoss,
                              float* grad) {
  const int64_t o = blockIdx.x * int64_t(V);
  const int t = targets[blockIdx.x];
  if (t < 0) {
    if (threadIdx.x == 0) rowLoss[blockIdx.x] = 0;
    if (grad)
      for (int j = threadIdx.x; j < V; j += blockDim.x) grad[o + j] = 0;
    return;
  }
  float m = -INFINITY;
  for (int j = threadIdx.x; j < V; j += blockDim.x) m = fmaxf(m, logits[o + j]);
  m = blockReduce<true>(m);
  float z = 0;
  for (int j = threadIdx.x; j < V; j += blockDim.x) z += expf(logits[o + j] - m);
  const float lse = m + logf(blockReduce<false>(z));
  const float target = logits[o + t];
  if (threadIdx.x == 0) rowLoss[blockIdx.x] = ceLoss(lse, target);
  if (grad)
    for (int j = threadIdx.x; j < V; j += blockDim.x) grad[o + j] = ceGrad(logits[o + j], lse, j == t, gradScale);
}

__global__ void kAdamw(float* p, const float* g, float* m, float* v, int64_t n, float lr, float b1, float b2,
                       float eps, float wd, float c1, float c2, float gradScale) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) adamwElem(p + i, m + i, v + i, g[i] * gradScale, lr, b1, b2, eps, wd, c1, c2);
}

__global__ void kNf4Dequantize(const uint8_t* codes, const float* absmax, const int8_t* absmaxCodes,
                               const float* absmaxScales, float offset, int blockSize, float* outF32,
                               uint16_t* outBf16, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float x = nf4Value(codes, i, nf4Absmax(absmax, absmaxCodes, absmaxScales, offset, i / blockSize));
  if (outF32) outF32[i] = x;
  if (outBf16) outBf16[i] = sftc::f32ToBf16(x);
}

__global__ void kEmbeddingGather(const uint16_t* table, const int32_t* ids, float* out, int64_t n, int dim) {
  const int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (e < n) out[e] = sftc::bf16ToF32(table[int64_t(ids[e / dim]) * dim + e % dim]);
}
__global__ void kEmbeddingScatterAdd(const float* dy, const int32_t* ids, float* dTable, int64_t n, int dim) {
  const int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (e < n) atomicAdd(dTable + int64_t(ids[e / dim]) * dim + e % dim, dy[e]);
}

}  // namespace

void bf16ToF32(const uint16_t* src, float* dst, int64_t n, cudaStream_t st) {
  if (n > 0) kBf16ToF32<<<blocksFor(n), kThreads, 0, st>>>(src, dst, n);
}
void f32ToBf16(const float* src, uint16_t* dst, int64_t n, cudaStream_t st) {
  if (n > 0) kF32ToBf16<<<blocksFor(n), kThreads, 0, st>>>(src, dst, n);
}
void rmsNormForward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int dim, float eps,
                    cudaStream_t st) {
  if (rows > 0) kRmsNormForward<<<unsigned(rows), kThreads, 0, st>>>(x, w, y, rstd, dim, eps);
}
void rmsNormBackward(const float* dy, const float* x, const float* w, const float* rstd, float* dx, float* dw,
                     int64_t rows, int dim, cudaStream_t st) {
  if (rows > 0) kRmsNormBackward<<<unsigned(rows), kThreads, 0, st>>>(dy, x, w, rstd, dx, dw, dim);
}
void rope(const float* x, const float* cos, const float* sin, float* y, int64_t T, int heads, int hd, bool inverse,
          cudaStream_t st) {
  const int64_t n = T * heads * hd;
  if (n > 0) kRope<<<blocksFor(n), kThreads, 0, st>>>(x, cos, sin, y, n, heads, hd, inverse);
}
void swigluForward(const float* g, const float* u, float* y, int64_t n, cudaStream_t st) {
  if (n > 0) kSwigluForward<<<blocksFor(n), kThreads, 0, st>>>(g, u, y, n);
}
void swigluBackward(const float* dy, const float* g, const float* u, float* dg, float* du, int64_t n,
                    cudaStream_t st) {
  if (n > 0) kSwigluBackward<<<blocksFor(n), kThreads, 0, st>>>(dy, g, u, dg, du, n);
}
void attentionForward(const float* q, const float* k, const float* v, const int32_t* seg, float* out, float* lse,
                      AttnDims d, float scale, cudaStream_t st) {
  const int64_t rows = int64_t(d.B) * d.H * d.S;
  if (rows <= 0) return;
  const AttentionKernel kind = chooseAttention(d, {q, k, v, out});
  if (kind == AttentionKernel::Tensor && tcAttentionForward(q, k, v, seg, out, lse, d, scale, st)) return;
  if (kind != AttentionKernel::Rows)
    flashAttentionForward(q, k, v, seg, out, lse, d, scale, st);
  else
    kAttentionForward<<<blocksFor(rows), kThreads, 0, st>>>(q, k, v, seg, out, lse, d, scale);
}
void attentionBackward(const float* q, const float* k, const float* v, const int32_t* seg, const float* out,
                       const float* lse, const float* dout, float* dq, float* dk, float* dv, AttnDims d, float scale,
                       cudaStream_t st) {
  const int64_t rows = int64_t(d.B) * d.H * d.S;
  if (rows <= 0) return;
  const AttentionKernel kind = chooseAttention(d, {q, k, v, out, dout, dq, dk, dv});
  if (kind == AttentionKernel::Tensor && tcAttentionBackward(q, k, v, seg, out, lse, dout, dq, dk, dv, d, scale, st))
    return;
  if (kind != AttentionKernel::Rows)
    flashAttentionBackward(q, k, v, seg, out, lse, dout, dq, dk, dv, d, scale, st);
  else
    kAttentionBackward<<<blocksFor(rows), kThreads, 0, st>>>(q, k, v, seg, out, lse, dout, dq, dk, dv, d, scale);
}
void crossEntropy(const float* logits, const int32_t* targets, int64_t rows, int V, float gradScale, float* rowLoss,
                  float* grad, cudaStream_t st) {
  if (rows > 0) kCrossEntropy<<<unsigned(rows), kThreads, 0, st>>>(logits, targets, V, gradScale, rowLoss, grad);
}
void adamw(float* p, const float* g, float* m, float* v, int64_t n, float lr, float b1, float b2, float eps, float wd,
           float c1, float c2, float gradScale, cudaStream_t st) {
  if (n > 0) kAdamw<<<blocksFor(n), kThreads, 0, st>>>(p, g, m, v, n, lr, b1, b2, eps, wd, c1, c2, gradScale);
}
void nf4Dequantize(const uint8_t* codes, const float* absmax, const int8_t* absmaxCodes, const float* absmaxScales,
                   float offset, int blockSize, float* outF32, uint16_t* outBf16, int64_t n, cudaStream_t st) {
  if (n > 0)
    kNf4Dequantize<<<blocksFor(n), kThreads, 0, st>>>(codes, absmax, absmaxCodes, absmaxScales, offset, blockSize,
                                                      outF32, outBf16, n);
}
void embeddingGather(const uint16_t* table, const int32_t* ids, float* out, int64_t T, int dim, cudaStream_t st) {
  const int64_t n = T * dim;
  if (n > 0) kEmbeddingGather<<<blocksFor(n), kThreads, 0, st>>>(table, ids, out, n, dim);
}
void embeddingScatterAdd(const float* dy, const int32_t* ids, float* dTable, int64_t T, int dim, cudaStream_t st) {
  const int64_t n = T * dim;
  if (n > 0) kEmbeddingScatterAdd<<<blocksFor(n), kThreads, 0, st>>>(dy, ids, dTable, n, dim);
}

}  // namespace sftc::gpu
