// Tiled causal GQA attention (flash-style, fp32 on CUDA cores): the per-row kernels of kernels.cu re-read
// every key from global memory once per query row (0.5 TFLOP/s forward on an H200, the backward 7x
// slower). Here a block streams key tiles through shared memory for a tile of query rows (one thread
// each; the reads are broadcasts), and the backward is two kernels: dq over query tiles, dk/dv over key
// tiles (each key's G query heads in one block), so nothing is atomically added. No T x T matrix is kept:
// the forward saves each row's log-sum-exp, the backward recomputes the probabilities. The arithmetic is
// math.h's (the host reference's). Head dims 16, 32, 64, 128 with 16-byte aligned rows; flash_tc.cu's
// tensor-core kernels take head dim 64 first (chooseAttention).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "flash.h"
#include "math.h"

namespace sftc::gpu {
namespace {

constexpr int kRows = 64;  // query rows per forward/dq block, keys per dk/dv block (one thread each)

__device__ __forceinline__ float4 ld4(const float* p) { return *reinterpret_cast<const float4*>(p); }
__device__ __forceinline__ void st4(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }
__device__ __forceinline__ float dot4(float4 a, const float* b) { return a.x * b[0] + a.y * b[1] + a.z * b[2] + a.w * b[3]; }
__device__ __forceinline__ float dot4(float4 a, float4 b) { return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w; }

// Loads keys [j0, j0 + KT) of (b, kvh) into ks/vs (zeros past K) and their segment ids (tokens j - P).
template <int HD, int KT>
__device__ void loadKeyTile(const float* k, const float* v, const int32_t* seg, const AttnDims& d, int b, int kvh,
                            int j0, float (*ks)[HD], float (*vs)[HD], int32_t* segs) {
  const int kw = d.KV * HD, P = d.K - d.S;
  for (int e = threadIdx.x; e < KT * HD / 4; e += blockDim.x) {
    const int r = e / (HD / 4), c = (e % (HD / 4)) * 4, j = j0 + r;
    float4 kk = make_float4(0, 0, 0, 0), vv = kk;
    if (j < d.K) {
      const int64_t o = (int64_t(b) * d.K + j) * kw + kvh * HD + c;
      kk = ld4(k + o);
      vv = ld4(v + o);
    }
    st4(&ks[r][c], kk);
    st4(&vs[r][c], vv);
  }
  if (seg)
    for (int r = threadIdx.x; r < KT; r += blockDim.x) {
      const int j = j0 + r;
      segs[r] = j >= P && j < d.K ? seg[int64_t(b) * d.S + (j - P)] : 0;
    }
}

// Forward: one block per (query tile, head, row), one thread per query row.
template <int HD, int KT>
__global__ void __launch_bounds__(kRows) kFlashForward(const float* q, const float* k, const float* v,
                                                       const int32_t* seg, float* out, float* lse, AttnDims d,
                                                       float scale) {
  __shared__ __align__(16) float ks[KT][HD];
  __shared__ __align__(16) float vs[KT][HD];
  __shared__ int32_t segs[KT];
  const int b = blockIdx.z, h = blockIdx.y, s0 = blockIdx.x * kRows, s = s0 + threadIdx.x;
  const int G = d.H / d.KV, kvh = h / G, qw = d.H * HD, P = d.K - d.S;
  const bool active = s < d.S;
  const int64_t qo = (int64_t(b) * d.S + (active ? s : 0)) * qw + h * HD;
  float qr[HD], acc[HD];
#pragma unroll
  for (int i = 0; i < HD; i += 4) {
    const float4 x = active ? ld4(q + qo + i) : make_float4(0, 0, 0, 0);
    qr[i] = x.x, qr[i + 1] = x.y, qr[i + 2] = x.z, qr[i + 3] = x.w;
  }
#pragma unroll
  for (int i = 0; i < HD; i++) acc[i] = 0;
  const int32_t ss = seg && active ? seg[int64_t(b) * d.S + s] : 0;
  OnlineSoftmax sm;
  const int kEnd = P + min(s0 + kRows, d.S);  // no row of this tile sees a key past it
  for (int j0 = 0; j0 < kEnd; j0 += KT) {
    __syncthreads();
    loadKeyTile<HD, KT>(k, v, seg, d, b, kvh, j0, ks, vs, segs);
    __syncthreads();
    if (!active) continue;
    const int jn = min(KT, kEnd - j0);
    for (int jj = 0; jj < jn; jj++) {
      const int j = j0 + jj;
      if (!attnVisibleIds(seg != nullptr, ss, segs[jj], P, s, j)) continue;
      float sc = 0;
#pragma unroll
      for (int i = 0; i < HD; i += 4) sc += dot4(ld4(&ks[jj][i]), qr + i);
      float rescale, p;
      sm.update(sc * scale, &rescale, &p);
#pragma unroll
      for (int i = 0; i < HD; i += 4) {
        const float4 vv = ld4(&vs[jj][i]);
        acc[i] = acc[i] * rescale + p * vv.x;
        acc[i + 1] = acc[i + 1] * rescale + p * vv.y;
        acc[i + 2] = acc[i + 2] * rescale + p * vv.z;
        acc[i + 3] = acc[i + 3] * rescale + p * vv.w;
      }
    }
  }
  if (!active) return;
  const float inv = 1.0f / sm.l;
#pragma unroll
  for (int i = 0; i < HD; i += 4)
    st4(out + qo + i, make_float4(acc[i] * inv, acc[i + 1] * inv, acc[i + 2] * inv, acc[i + 3] * inv));
  lse[(int64_t(b) * d.H + h) * d.S + s] = sm.lse();
}

// dq: one block per (query tile, head, row), one thread per query row; dq written.
template <int HD, int KT>
__global__ void __launch_bounds__(kRows) kFlashBackwardDq(const float* q, const float* k, const float* v,
                                                          const int32_t* seg, const float* out, const float* lse,
                                                          const float* dout, float* dq, AttnDims d, float scale) {
  __shared__ __align__(16) float ks[KT][HD];
  __shared__ __align__(16) float vs[KT][HD];
  __shared__ int32_t segs[KT];
  const int b = blockIdx.z, h = blockIdx.y, s0 = blockIdx.x * kRows, s = s0 + threadIdx.x;
  const int G = d.H / d.KV, kvh = h / G, qw = d.H * HD, P = d.K - d.S;
  const bool active = s < d.S;
  const int64_t qo = (int64_t(b) * d.S + (active ? s : 0)) * qw + h * HD;
  float qr[HD], dor[HD], acc[HD];
  float D = 0;
#pragma unroll
  for (int i = 0; i < HD; i += 4) {
    const float4 x = active ? ld4(q + qo + i) : make_float4(0, 0, 0, 0);
    const float4 g = active ? ld4(dout + qo + i) : make_float4(0, 0, 0, 0);
    const float4 o = active ? ld4(out + qo + i) : make_float4(0, 0, 0, 0);
    qr[i] = x.x, qr[i + 1] = x.y, qr[i + 2] = x.z, qr[i + 3] = x.w;
    dor[i] = g.x, dor[i + 1] = g.y, dor[i + 2] = g.z, dor[i + 3] = g.w;
    D += g.x * o.x + g.y * o.y + g.z * o.z + g.w * o.w;
  }
#pragma unroll
  for (int i = 0; i < HD; i++) acc[i] = 0;
  const float L = active ? lse[(int64_t(b) * d.H + h) * d.S + s] : 0.0f;
  const int32_t ss = seg && active ? seg[int64_t(b) * d.S + s] : 0;
  const int kEnd = P + min(s0 + kRows, d.S);
  for (int j0 = 0; j0 < kEnd; j0 += KT) {
    __syncthreads();
    loadKeyTile<HD, KT>(k, v, seg, d, b, kvh, j0, ks, vs, segs);
    __syncthreads();
    if (!active) continue;
    const int jn = min(KT, kEnd - j0);
    for (int jj = 0; jj < jn; jj++) {
      const int j = j0 + jj;
      if (!attnVisibleIds(seg != nullptr, ss, segs[jj], P, s, j)) continue;
      float sc = 0, dp = 0;
#pragma unroll
      for (int i = 0; i < HD; i += 4) {
        sc += dot4(ld4(&ks[jj][i]), qr + i);
        dp += dot4(ld4(&vs[jj][i]), dor + i);
      }
      const float ds = attnDScore(attnProb(sc * scale, L), dp, D) * scale;
#pragma unroll
      for (int i = 0; i < HD; i += 4) {
        const float4 kk = ld4(&ks[jj][i]);
        acc[i] += ds * kk.x;
        acc[i + 1] += ds * kk.y;
        acc[i + 2] += ds * kk.z;
        acc[i + 3] += ds * kk.w;
      }
    }
  }
  if (!active) return;
#pragma unroll
  for (int i = 0; i < HD; i += 4) st4(dq + qo + i, make_float4(acc[i], acc[i + 1], acc[i + 2], acc[i + 3]));
}

// dk, dv: one block per (key tile, kv head, row), one thread per key, over the G query heads that share
// it and the query rows that can see it, QT at a time; dk and dv added to. The thread's own key and value
// rows sit in shared memory, padded by 4 floats so that 8 neighbours' 16-byte reads hit distinct banks.
template <int HD, int KB, int QT>
__global__ void __launch_bounds__(KB) kFlashBackwardDkv(const float* q, const float* k, const float* v,
                                                        const int32_t* seg, const float* out, const float* lse,
                                                        const float* dout, float* dk, float* dv, AttnDims d,
                                                        float scale) {
  __shared__ __align__(16) float kown[KB][HD + 4];
  __shared__ __align__(16) float vown[KB][HD + 4];
  __shared__ __align__(16) float qs[QT][HD];
  __shared__ __align__(16) float dos[QT][HD];
  __shared__ float Ls[QT], Ds[QT];
  __shared__ int32_t qseg[QT];
  const int b = blockIdx.z, kvh = blockIdx.y, j0 = blockIdx.x * KB, j = j0 + threadIdx.x;
  const int G = d.H / d.KV, qw = d.H * HD, kw = d.KV * HD, P = d.K - d.S;
  const bool active = j < d.K;
  const int64_t ko = (int64_t(b) * d.K + (active ? j : 0)) * kw + kvh * HD;
#pragma unroll
  for (int i = 0; i < HD; i += 4) {
    st4(&kown[threadIdx.x][i], active ? ld4(k + ko + i) : make_float4(0, 0, 0, 0));
    st4(&vown[threadIdx.x][i], active ? ld4(v + ko + i) : make_float4(0, 0, 0, 0));
  }
  const int32_t sk = seg && active && j >= P ? seg[int64_t(b) * d.S + (j - P)] : 0;
  float dka[HD], dva[HD];
#pragma unroll
  for (int i = 0; i < HD; i++) dka[i] = dva[i] = 0;
  // Query s sees key j only if s >= j - P (prefix keys: every row).
  const int sStart = j0 < P ? 0 : j0 - P;
  for (int g = 0; g < G; g++) {
    const int h = kvh * G + g;
    for (int sq0 = sStart; sq0 < d.S; sq0 += QT) {
      __syncthreads();
      for (int e = threadIdx.x; e < QT * HD / 4; e += KB) {
        const int r = e / (HD / 4), c = (e % (HD / 4)) * 4, s = sq0 + r;
        const int64_t o = (int64_t(b) * d.S + s) * qw + h * HD + c;
        st4(&qs[r][c], s < d.S ? ld4(q + o) : make_float4(0, 0, 0, 0));
        st4(&dos[r][c], s < d.S ? ld4(dout + o) : make_float4(0, 0, 0, 0));
      }
      for (int r = threadIdx.x; r < QT; r += KB) {
        const int s = sq0 + r;
        float D = 0;
        if (s < d.S) {
          const int64_t o = (int64_t(b) * d.S + s) * qw + h * HD;
          for (int i = 0; i < HD; i += 4) {
            const float4 gg = ld4(dout + o + i), oo = ld4(out + o + i);
            D += gg.x * oo.x + gg.y * oo.y + gg.z * oo.z + gg.w * oo.w;
          }
        }
        Ds[r] = D;
        Ls[r] = s < d.S ? lse[(int64_t(b) * d.H + h) * d.S + s] : 0.0f;
        qseg[r] = seg && s < d.S ? seg[int64_t(b) * d.S + s] : 0;
      }
      __syncthreads();
      if (!active) continue;
      const int qn = min(QT, d.S - sq0);
      for (int r = 0; r < qn; r++) {
        const int s = sq0 + r;
        if (!attnVisibleIds(seg != nullptr, qseg[r], sk, P, s, j)) continue;
        float sc = 0, dp = 0;
#pragma unroll
        for (int i = 0; i < HD; i += 4) {
          sc += dot4(ld4(&qs[r][i]), ld4(&kown[threadIdx.x][i]));
          dp += dot4(ld4(&dos[r][i]), ld4(&vown[threadIdx.x][i]));
        }
        const float p = attnProb(sc * scale, Ls[r]);
        const float ds = attnDScore(p, dp, Ds[r]) * scale;
#pragma unroll
        for (int i = 0; i < HD; i += 4) {
          const float4 x = ld4(&qs[r][i]), gg = ld4(&dos[r][i]);
          dka[i] += ds * x.x, dka[i + 1] += ds * x.y, dka[i + 2] += ds * x.z, dka[i + 3] += ds * x.w;
          dva[i] += p * gg.x, dva[i + 1] += p * gg.y, dva[i + 2] += p * gg.z, dva[i + 3] += p * gg.w;
        }
      }
    }
  }
  if (!active) return;
#pragma unroll
  for (int i = 0; i < HD; i += 4) {
    float4 a = ld4(dk + ko + i), c = ld4(dv + ko + i);
    st4(dk + ko + i, make_float4(a.x + dka[i], a.y + dka[i + 1], a.z + dka[i + 2], a.w + dka[i + 3]));
    st4(dv + ko + i, make_float4(c.x + dva[i], c.y + dva[i + 1], c.z + dva[i + 2], c.w + dva[i + 3]));
  }
}

bool aligned(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

template <int HD, int KT>
void forward(const float* q, const float* k, const float* v, const int32_t* seg, float* out, float* lse,
             AttnDims d, float scale, cudaStream_t st) {
  const dim3 grid((d.S + kRows - 1) / kRows, d.H, d.B);
  kFlashForward<HD, KT><<<grid, kRows, 0, st>>>(q, k, v, seg, out, lse, d, scale);
}

template <int HD, int KT, int KB, int QT>
void backward(const float* q, const float* k, const float* v, const int32_t* seg, const float* out,
              const float* lse, const float* dout, float* dq, float* dk, float* dv, AttnDims d, float scale,
              cudaStream_t st) {
  const dim3 gq((d.S + kRows - 1) / kRows, d.H, d.B);
  kFlashBackwardDq<HD, KT><<<gq, kRows, 0, st>>>(q, k, v, seg, out, lse, dout, dq, d, scale);
  const dim3 gk((d.K + KB - 1) / KB, d.KV, d.B);
  kFlashBackwardDkv<HD, KB, QT><<<gk, KB, 0, st>>>(q, k, v, seg, out, lse, dout, dk, dv, d, scale);
}

}  // namespace

AttentionKernel chooseAttention(const AttnDims& d, std::initializer_list<const void*> ptrs) {
  const char* e = std::getenv("SFTKIT_CUDA_ATTENTION");
  const std::string cap = e ? e : "";
  if (cap == "rows") return AttentionKernel::Rows;
  if (d.hd != 16 && d.hd != 32 && d.hd != 64 && d.hd != 128) return AttentionKernel::Rows;
  if (d.KV <= 0 || d.H % d.KV != 0 || d.K < d.S) return AttentionKernel::Rows;
  for (const void* p : ptrs)
    if (p && !aligned(p)) return AttentionKernel::Rows;
  return tcAttentionSupported(d) && cap != "tiled" ? AttentionKernel::Tensor : AttentionKernel::Tiled;
}

// Shared memory per block stays under the 48 KiB of a static allocation: key tiles of 64 (32 at hd 128),
// dk/dv blocks of 64 keys (32 at hd 128) over query tiles of 16 (8).
void flashAttentionForward(const float* q, const float* k, const float* v, const int32_t* seg, float* out,
                           float* lse, AttnDims d, float scale, cudaStream_t st) {
  switch (d.hd) {
    case 16: return forward<16, 64>(q, k, v, seg, out, lse, d, scale, st);
    case 32: return forward<32, 64>(q, k, v, seg, out, lse, d, scale, st);
    case 64: return forward<64, 64>(q, k, v, seg, out, lse, d, scale, st);
    default: return forward<128, 32>(q, k, v, seg, out, lse, d, scale, st);
  }
}

void flashAttentionBackward(const float* q, const float* k, const float* v, const int32_t* seg, const float* out,
                            const float* lse, const float* dout, float* dq, float* dk, float* dv, AttnDims d,
                            float scale, cudaStream_t st) {
  switch (d.hd) {
    case 16: return backward<16, 64, 64, 16>(q, k, v, seg, out, lse, dout, dq, dk, dv, d, scale, st);
    case 32: return backward<32, 64, 64, 16>(q, k, v, seg, out, lse, dout, dq, dk, dv, d, scale, st);
    case 64: return backward<64, 64, 64, 16>(q, k, v, seg, out, lse, dout, dq, dk, dv, d, scale, st);
    default: return backward<128, 32, 32, 8>(q, k, v, seg, out, lse, dout, dq, dk, dv, d, scale, st);
  }
}

}  // namespace sftc::gpu
