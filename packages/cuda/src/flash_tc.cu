// Causal GQA attention on tensor cores (TF32 WMMA, fp32 storage and accumulation), head dim 64: the
// FlashAttention-2 schedule. Forward: a block of 4 warps owns 64 query rows (16 per warp); per key tile
// S = Q K^T, the online softmax on S in shared memory, O = O * alpha + P V with O kept in shared memory.
// Backward: dq by query tiles (S, dP = dO V^T, dS = P (dP - D), dQ += dS K) and dk/dv by key tiles over
// the G query heads of their kv head (S^T = K Q^T, dP^T = V dO^T, dV += P^T dO, dK += dS^T Q): no atomics
// and no T x T matrix kept. The masks and the softmax arithmetic are math.h's. TF32 rounds the products'
// inputs to 10 mantissa bits (as PyTorch's bf16 SDPA rounds to 7): the self test's tolerance says so.
#include <mma.h>

#include "flash.h"
#include "math.h"

namespace sftc::gpu {
namespace {

using namespace nvcuda;

constexpr int HD = 64;       // head dim these kernels take
constexpr int LD = HD + 8;   // padded row of a [rows][HD] tile (32-byte aligned rows, fewer bank conflicts)
constexpr int QB = 64;       // query rows per forward / dq block
constexpr int KT = 64;       // keys per tile (forward, dq) and per dk/dv block
constexpr int QT = 32;       // query rows per step of a dk/dv block
constexpr int LDT = QT + 8;  // padded row of a [keys][QT] tile
constexpr int kThreads = 128;

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
using FragBc = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major>;
using FragBr = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 8, float>;

template <class F>
__device__ __forceinline__ void tf32(F& f) {
#pragma unroll
  for (int i = 0; i < f.num_elements; i++) f.x[i] = wmma::__float_to_tf32(f.x[i]);
}

// rows [r0, r0 + n) of a [.., HD] tensor row-slice into a padded shared tile; zeros past `limit`.
__device__ __forceinline__ void loadRows(float* tile, const float* src, int64_t rowStride, int r0, int n, int limit) {
  for (int e = threadIdx.x; e < n * (HD / 4); e += blockDim.x) {
    const int r = e / (HD / 4), c = (e % (HD / 4)) * 4;
    float4 x = make_float4(0, 0, 0, 0);
    if (r0 + r < limit) x = *reinterpret_cast<const float4*>(src + int64_t(r0 + r) * rowStride + c);
    *reinterpret_cast<float4*>(tile + r * LD + c) = x;
  }
}

// The backward's per-row values of query rows [s0, s0 + n) of head h: D = dout . out, the forward's
// log-sum-exp and the segment id (zeros past S).
__device__ void loadRowStats(const float* out, const float* dout, const float* lse, const int32_t* seg,
                             const AttnDims& d, int b, int h, int s0, int n, float* D, float* L, int32_t* segQ) {
  const int qw = d.H * HD;
  for (int r = threadIdx.x; r < n; r += blockDim.x) {
    const int s = s0 + r;
    const int64_t o = (int64_t(b) * d.S + s) * qw + h * HD;
    float dot = 0;
    if (s < d.S)
      for (int c = 0; c < HD; c++) dot += dout[o + c] * out[o + c];
    D[r] = dot;
    L[r] = s < d.S ? lse[(int64_t(b) * d.H + h) * d.S + s] : 0.0f;
    segQ[r] = seg && s < d.S ? seg[int64_t(b) * d.S + s] : 0;
  }
}

// C (16 x 16 per fragment) += A[16][depth] . B, A row-major in shared memory (lda), B either col-major
// (the transpose of a row-major [n][depth] tile: colB) or row-major [depth][n].
template <int DEPTH, bool COLB>
__device__ __forceinline__ void mmaTile(FragC& c, const float* a, int lda, const float* b, int ldb) {
#pragma unroll
  for (int k = 0; k < DEPTH; k += 8) {
    FragA fa;
    wmma::load_matrix_sync(fa, a + k, lda);
    tf32(fa);
    if constexpr (COLB) {
      FragBc fb;
      wmma::load_matrix_sync(fb, b + k, ldb);
      tf32(fb);
      wmma::mma_sync(c, fa, fb, c);
    } else {
      FragBr fb;
      wmma::load_matrix_sync(fb, b + int64_t(k) * ldb, ldb);
      tf32(fb);
      wmma::mma_sync(c, fa, fb, c);
    }
  }
}

// ---- Forward ----
struct FwdSmem {
  float k[KT * LD], v[KT * LD], s[QB * LD], o[QB * LD], q[QB * LD];
  int32_t segK[KT];
};

__global__ void __launch_bounds__(kThreads) kTcForward(const float* q, const float* k, const float* v,
                                                       const int32_t* seg, float* out, float* lse, AttnDims d,
                                                       float scale) {
  extern __shared__ __align__(128) unsigned char raw[];
  FwdSmem& sm = *reinterpret_cast<FwdSmem*>(raw);
  const int b = blockIdx.z, h = blockIdx.y, s0 = blockIdx.x * QB;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int G = d.H / d.KV, kvh = h / G, qw = d.H * HD, kw = d.KV * HD, P = d.K - d.S;
  loadRows(sm.q, q + (int64_t(b) * d.S) * qw + h * HD, qw, s0, QB, d.S);
  for (int e = threadIdx.x; e < QB * LD; e += blockDim.x) sm.o[e] = 0;
  // Each lane pair owns one of its warp's 16 rows; lane & 1 picks half of the keys / columns.
  const int row = warp * 16 + lane / 2, half = lane & 1, s = s0 + row;
  const bool active = s < d.S;
  const int32_t ss = seg && active ? seg[int64_t(b) * d.S + s] : 0;
  float m = -INFINITY, l = 0;
  const int kEnd = P + min(s0 + QB, d.S);
  for (int j0 = 0; j0 < kEnd; j0 += KT) {
    __syncthreads();
    loadRows(sm.k, k + (int64_t(b) * d.K) * kw + kvh * HD, kw, j0, KT, d.K);
    loadRows(sm.v, v + (int64_t(b) * d.K) * kw + kvh * HD, kw, j0, KT, d.K);
    if (seg)
      for (int r = threadIdx.x; r < KT; r += blockDim.x) {
        const int j = j0 + r;
        sm.segK[r] = j >= P && j < d.K ? seg[int64_t(b) * d.S + (j - P)] : 0;
      }
    __syncthreads();
    // S = Q K^T for this warp's 16 rows.
#pragma unroll
    for (int n = 0; n < KT / 16; n++) {
      FragC c;
      wmma::fill_fragment(c, 0.0f);
      mmaTile<HD, true>(c, sm.q + warp * 16 * LD, LD, sm.k + n * 16 * LD, LD);
      wmma::store_matrix_sync(sm.s + warp * 16 * LD + n * 16, c, LD, wmma::mem_row_major);
    }
    __syncwarp();
    // Online softmax: P in place of S, O's rows rescaled.
    float* sr = sm.s + row * LD;
    float tileMax = -INFINITY;
    for (int c = half * (KT / 2); c < (half + 1) * (KT / 2); c++) {
      const int j = j0 + c;
      const bool vis = active && j < d.K && attnVisibleIds(seg != nullptr, ss, seg ? sm.segK[c] : 0, P, s, j);
      const float x = vis ? sr[c] * scale : -INFINITY;
      sr[c] = x;
      tileMax = fmaxf(tileMax, x);
    }
    tileMax = fmaxf(tileMax, __shfl_xor_sync(0xffffffffu, tileMax, 1));
    const float mNew = fmaxf(m, tileMax);
    float sum = 0;
    for (int c = half * (KT / 2); c < (half + 1) * (KT / 2); c++) {
      const float p = mNew == -INFINITY ? 0.0f : expf(sr[c] - mNew);  // exp(-inf) = 0: masked keys
      sr[c] = p;
      sum += p;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    const float alpha = m == -INFINITY ? 0.0f : expf(m - mNew);
    l = l * alpha + sum;
    m = mNew;
    float* orow = sm.o + row * LD;
    for (int c = half * (HD / 2); c < (half + 1) * (HD / 2); c++) orow[c] *= alpha;
    __syncwarp();
    // O += P V.
#pragma unroll
    for (int n = 0; n < HD / 16; n++) {
      FragC c;
      wmma::load_matrix_sync(c, sm.o + warp * 16 * LD + n * 16, LD, wmma::mem_row_major);
      mmaTile<KT, false>(c, sm.s + warp * 16 * LD, LD, sm.v + n * 16, LD);
      wmma::store_matrix_sync(sm.o + warp * 16 * LD + n * 16, c, LD, wmma::mem_row_major);
    }
    __syncwarp();
  }
  if (!active) return;
  const float inv = 1.0f / l;
  const float* orow = sm.o + row * LD;
  float* dst = out + (int64_t(b) * d.S + s) * qw + h * HD;
  for (int c = half * (HD / 2); c < (half + 1) * (HD / 2); c += 4)
    *reinterpret_cast<float4*>(dst + c) =
        make_float4(orow[c] * inv, orow[c + 1] * inv, orow[c + 2] * inv, orow[c + 3] * inv);
  if (half == 0) lse[(int64_t(b) * d.H + h) * d.S + s] = m + logf(l);
}

// ---- Backward: dq ----
struct DqSmem {
  float k[KT * LD], v[KT * LD], q[QB * LD], dout[QB * LD], s[QB * LD], dp[QB * LD];
  float L[QB], D[QB];
  int32_t segQ[QB], segK[KT];
};

__global__ void __launch_bounds__(kThreads) kTcBackwardDq(const float* q, const float* k, const float* v,
                                                          const int32_t* seg, const float* out, const float* lse,
                                                          const float* dout, float* dq, AttnDims d, float scale) {
  extern __shared__ __align__(128) unsigned char raw[];
  DqSmem& sm = *reinterpret_cast<DqSmem*>(raw);
  const int b = blockIdx.z, h = blockIdx.y, s0 = blockIdx.x * QB;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int G = d.H / d.KV, kvh = h / G, qw = d.H * HD, kw = d.KV * HD, P = d.K - d.S;
  const int64_t qBase = (int64_t(b) * d.S) * qw + h * HD;
  loadRows(sm.q, q + qBase, qw, s0, QB, d.S);
  loadRows(sm.dout, dout + qBase, qw, s0, QB, d.S);
  loadRowStats(out, dout, lse, seg, d, b, h, s0, QB, sm.D, sm.L, sm.segQ);
  FragC acc[HD / 16];
#pragma unroll
  for (int n = 0; n < HD / 16; n++) wmma::fill_fragment(acc[n], 0.0f);
  const int row = warp * 16 + lane / 2, half = lane & 1, s = s0 + row;
  const bool active = s < d.S;
  const int kEnd = P + min(s0 + QB, d.S);
  for (int j0 = 0; j0 < kEnd; j0 += KT) {
    __syncthreads();
    loadRows(sm.k, k + (int64_t(b) * d.K) * kw + kvh * HD, kw, j0, KT, d.K);
    loadRows(sm.v, v + (int64_t(b) * d.K) * kw + kvh * HD, kw, j0, KT, d.K);
    if (seg)
      for (int r = threadIdx.x; r < KT; r += blockDim.x) {
        const int j = j0 + r;
        sm.segK[r] = j >= P && j < d.K ? seg[int64_t(b) * d.S + (j - P)] : 0;
      }
    __syncthreads();
#pragma unroll 1
    for (int n = 0; n < KT / 16; n++) {
      FragC c, e;
      wmma::fill_fragment(c, 0.0f);
      wmma::fill_fragment(e, 0.0f);
      mmaTile<HD, true>(c, sm.q + warp * 16 * LD, LD, sm.k + n * 16 * LD, LD);
      mmaTile<HD, true>(e, sm.dout + warp * 16 * LD, LD, sm.v + n * 16 * LD, LD);
      wmma::store_matrix_sync(sm.s + warp * 16 * LD + n * 16, c, LD, wmma::mem_row_major);
      wmma::store_matrix_sync(sm.dp + warp * 16 * LD + n * 16, e, LD, wmma::mem_row_major);
    }
    __syncwarp();
    // dS = P (dP - D) * scale, in place of S.
    float* sr = sm.s + row * LD;
    const float* dpr = sm.dp + row * LD;
    for (int c = half * (KT / 2); c < (half + 1) * (KT / 2); c++) {
      const int j = j0 + c;
      const bool vis =
          active && j < d.K && attnVisibleIds(seg != nullptr, sm.segQ[row], seg ? sm.segK[c] : 0, P, s, j);
      sr[c] = vis ? attnDScore(attnProb(sr[c] * scale, sm.L[row]), dpr[c], sm.D[row]) * scale : 0.0f;
    }
    __syncwarp();
#pragma unroll
    for (int n = 0; n < HD / 16; n++) mmaTile<KT, false>(acc[n], sm.s + warp * 16 * LD, LD, sm.k + n * 16, LD);
  }
  __syncthreads();
#pragma unroll
  for (int n = 0; n < HD / 16; n++)
    wmma::store_matrix_sync(sm.s + warp * 16 * LD + n * 16, acc[n], LD, wmma::mem_row_major);
  __syncwarp();
  if (!active) return;
  const float* src = sm.s + row * LD;
  float* dst = dq + qBase + int64_t(s) * qw;
  for (int c = half * (HD / 2); c < (half + 1) * (HD / 2); c += 4)
    *reinterpret_cast<float4*>(dst + c) = make_float4(src[c], src[c + 1], src[c + 2], src[c + 3]);
}

// ---- Backward: dk, dv ----
struct DkvSmem {
  float k[KT * LD], v[KT * LD], q[QT * LD], dout[QT * LD], pt[KT * LDT], dst[KT * LDT];
  float L[QT], D[QT];
  int32_t segQ[QT];
};

__global__ void __launch_bounds__(kThreads) kTcBackwardDkv(const float* q, const float* k, const float* v,
                                                           const int32_t* seg, const float* out, const float* lse,
                                                           const float* dout, float* dk, float* dv, AttnDims d,
                                                           float scale) {
  extern __shared__ __align__(128) unsigned char raw[];
  DkvSmem& sm = *reinterpret_cast<DkvSmem*>(raw);
  const int b = blockIdx.z, kvh = blockIdx.y, j0 = blockIdx.x * KT;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int G = d.H / d.KV, qw = d.H * HD, kw = d.KV * HD, P = d.K - d.S;
  const int64_t kBase = (int64_t(b) * d.K) * kw + kvh * HD;
  loadRows(sm.k, k + kBase, kw, j0, KT, d.K);
  loadRows(sm.v, v + kBase, kw, j0, KT, d.K);
  // Each lane pair owns one of its warp's 16 keys; lane & 1 picks half of the query columns.
  const int key = warp * 16 + lane / 2, half = lane & 1, j = j0 + key;
  const bool active = j < d.K;
  const int32_t sk = seg && active && j >= P ? seg[int64_t(b) * d.S + (j - P)] : 0;
  FragC dK[HD / 16], dV[HD / 16];
#pragma unroll
  for (int n = 0; n < HD / 16; n++) {
    wmma::fill_fragment(dK[n], 0.0f);
    wmma::fill_fragment(dV[n], 0.0f);
  }
  const int sStart = j0 < P ? 0 : j0 - P;  // query s sees key j only if s >= j - P (prefix keys: all)
  for (int g = 0; g < G; g++) {
    const int h = kvh * G + g;
    const int64_t qBase = (int64_t(b) * d.S) * qw + h * HD;
    for (int sq0 = sStart; sq0 < d.S; sq0 += QT) {
      __syncthreads();
      loadRows(sm.q, q + qBase, qw, sq0, QT, d.S);
      loadRows(sm.dout, dout + qBase, qw, sq0, QT, d.S);
      loadRowStats(out, dout, lse, seg, d, b, h, sq0, QT, sm.D, sm.L, sm.segQ);
      __syncthreads();
      // S^T = K Q^T and dP^T = V dO^T for this warp's 16 keys.
#pragma unroll 1
      for (int n = 0; n < QT / 16; n++) {
        FragC c, e;
        wmma::fill_fragment(c, 0.0f);
        wmma::fill_fragment(e, 0.0f);
        mmaTile<HD, true>(c, sm.k + warp * 16 * LD, LD, sm.q + n * 16 * LD, LD);
        mmaTile<HD, true>(e, sm.v + warp * 16 * LD, LD, sm.dout + n * 16 * LD, LD);
        wmma::store_matrix_sync(sm.pt + warp * 16 * LDT + n * 16, c, LDT, wmma::mem_row_major);
        wmma::store_matrix_sync(sm.dst + warp * 16 * LDT + n * 16, e, LDT, wmma::mem_row_major);
      }
      __syncwarp();
      float* pr = sm.pt + key * LDT;
      float* dr = sm.dst + key * LDT;
      for (int c = half * (QT / 2); c < (half + 1) * (QT / 2); c++) {
        const int s = sq0 + c;
        const bool vis =
            active && s < d.S && attnVisibleIds(seg != nullptr, sm.segQ[c], sk, P, s, j);
        const float p = vis ? attnProb(pr[c] * scale, sm.L[c]) : 0.0f;
        dr[c] = vis ? attnDScore(p, dr[c], sm.D[c]) * scale : 0.0f;
        pr[c] = p;
      }
      __syncwarp();
      // dV += P^T dO, dK += dS^T Q.
#pragma unroll
      for (int n = 0; n < HD / 16; n++) {
        mmaTile<QT, false>(dV[n], sm.pt + warp * 16 * LDT, LDT, sm.dout + n * 16, LD);
        mmaTile<QT, false>(dK[n], sm.dst + warp * 16 * LDT, LDT, sm.q + n * 16, LD);
      }
    }
  }
  __syncthreads();
#pragma unroll
  for (int n = 0; n < HD / 16; n++) {
    wmma::store_matrix_sync(sm.k + warp * 16 * LD + n * 16, dK[n], LD, wmma::mem_row_major);
    wmma::store_matrix_sync(sm.v + warp * 16 * LD + n * 16, dV[n], LD, wmma::mem_row_major);
  }
  __syncwarp();
  if (!active) return;
  const float* ka = sm.k + key * LD;
  const float* va = sm.v + key * LD;
  float* dkr = dk + kBase + int64_t(j) * kw;
  float* dvr = dv + kBase + int64_t(j) * kw;
  for (int c = half * (HD / 2); c < (half + 1) * (HD / 2); c++) {
    dkr[c] += ka[c];
    dvr[c] += va[c];
  }
}

// Opts a kernel into more than 48 KiB of dynamic shared memory; false (the error cleared, so that the next
// launch check does not report it) where the GPU has less (sm_86/sm_89 have 99 KiB: dq needs 110).
template <class Kernel>
bool allowSmem(Kernel kernel, size_t bytes) {
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)) == cudaSuccess) return true;
  cudaGetLastError();
  return false;
}

}  // namespace

bool tcAttentionSupported(const AttnDims& d) { return d.hd == HD; }

bool tcAttentionForward(const float* q, const float* k, const float* v, const int32_t* seg, float* out, float* lse,
                        AttnDims d, float scale, cudaStream_t st) {
  static const bool ok = allowSmem(kTcForward, sizeof(FwdSmem));
  if (!ok) return false;
  const dim3 grid((d.S + QB - 1) / QB, d.H, d.B);
  kTcForward<<<grid, kThreads, sizeof(FwdSmem), st>>>(q, k, v, seg, out, lse, d, scale);
  return true;
}

bool tcAttentionBackward(const float* q, const float* k, const float* v, const int32_t* seg, const float* out,
                         const float* lse, const float* dout, float* dq, float* dk, float* dv, AttnDims d, float scale,
                         cudaStream_t st) {
  static const bool ok = allowSmem(kTcBackwardDq, sizeof(DqSmem)) && allowSmem(kTcBackwardDkv, sizeof(DkvSmem));
  if (!ok) return false;
  const dim3 gq((d.S + QB - 1) / QB, d.H, d.B);
  kTcBackwardDq<<<gq, kThreads, sizeof(DqSmem), st>>>(q, k, v, seg, out, lse, dout, dq, d, scale);
  const dim3 gk((d.K + KT - 1) / KT, d.KV, d.B);
  kTcBackwardDkv<<<gk, kThreads, sizeof(DkvSmem), st>>>(q, k, v, seg, out, lse, dout, dk, dv, d, scale);
  return true;
}

}  // namespace sftc::gpu
