// Causal GQA attention on bf16 tensor cores (mma.sync m16n8k16, fp32 accumulation): the FlashAttention-2
// schedule with every fragment in registers. A warp owns 16 rows; scores come out of the MMA in the
// accumulator layout, which is also the A-operand layout of the next product, so softmax, masks and
// dS = P (dP - D) run in registers and P / dS feed P V, dS K, P^T dO and dS^T Q without shared memory.
// The f32 activations are first copied to bf16 (PyTorch's bf16 SDPA rounds the same operands) in a
// scratch buffer kept between calls; tiles then stream into shared memory by cp.async, the next tile's
// copy in flight while the current one is multiplied, and ldmatrix reads the B operands (transposing
// where the product needs the other axis). Forward and dq: a block of 4 warps owns 64 query rows and
// streams key tiles. dk/dv: a block owns 64 keys of one query head and streams query tiles; the G heads
// of a kv head add their parts atomically (the launcher's contract: dk, dv are added to). The masks and
// the softmax arithmetic are math.h's.
#include <cuda_bf16.h>

#include <algorithm>

#include "flash.h"
#include "math.h"

namespace sftc::gpu {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kRowsPerBlock = kWarps * 16;  // query rows (forward, dq) or keys (dk/dv) per block
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

__device__ __forceinline__ uint32_t pack(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// c += a (16 x 16, row) . b (16 x 8, col); the PTX ISA's fragment layouts (g = lane / 4, t = lane % 4):
// a: {(g, 2t..2t+1), (g+8, 2t..), (g, 2t+8..), (g+8, 2t+8..)}; b: {(k 2t..2t+1, n g), (k 2t+8.., n g)};
// c: {(g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1)}.
__device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// B fragments of n-tiles n0 and n0 + 8 (k-step k0..k0+15) from a shared tile by one ldmatrix.x4: b[0], b[1]
// for n0, b[2], b[3] for n0 + 8. The tile is stored [n][k] (TRANS false) or [k][n] (TRANS true: ldmatrix
// transposes the 8 x 8 blocks, so no operand is ever stored transposed). Rows 16-byte aligned.
template <bool TRANS>
__device__ __forceinline__ void ldB(uint32_t (&b)[4], const uint16_t* tile, int ld, int n0, int k0, int lane) {
  const int i = lane / 8, r = lane % 8;  // lane gives row r of 8 x 8 block i
  const uint16_t* p = TRANS ? tile + (k0 + (i % 2) * 8 + r) * ld + n0 + (i / 2) * 8
                            : tile + (n0 + (i / 2) * 8 + r) * ld + k0 + (i % 2) * 8;
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  if constexpr (TRANS)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3])
                 : "r"(addr));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3])
                 : "r"(addr));
}

// c[n0 / 8 .. n0 / 8 + N / 8) += a (16 x 16) . B (k 16 x N) from a shared tile (see ldB).
template <bool TRANS, int N>
__device__ __forceinline__ void mmaRow(float (*c)[4], const uint32_t (&a)[4], const uint16_t* tile, int ld, int k0,
                                       int lane) {
#pragma unroll
  for (int nt = 0; nt < N / 8; nt += 2) {
    uint32_t b[4];
    ldB<TRANS>(b, tile, ld, nt * 8, k0, lane);
    mma(c[nt], a, b[0], b[1]);
    mma(c[nt + 1], a, b[2], b[3]);
  }
}

// The A fragment (16 x 16) of two adjacent accumulator tiles (columns 16 kk .. 16 kk + 15).
__device__ __forceinline__ void accToA(uint32_t (&a)[4], const float (&lo)[4], const float (&hi)[4]) {
  a[0] = pack(lo[0], lo[1]);
  a[1] = pack(lo[2], lo[3]);
  a[2] = pack(hi[0], hi[1]);
  a[3] = pack(hi[2], hi[3]);
}

// A fragments of rows [r0, r0 + 16) x HD of a bf16 tensor (row stride `stride`) straight from global
// memory; rows at or past `limit` are zeros.
template <int HD>
__device__ __forceinline__ void loadA(uint32_t (&a)[HD / 16][4], const uint16_t* src, int64_t stride, int r0,
                                     int limit, int lane) {
  const int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int r = r0 + g + half * 8;
    const uint16_t* row = src + int64_t(r) * stride;
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++) {
      const bool in = r < limit;
      a[kk][half] = in ? *reinterpret_cast<const uint32_t*>(row + kk * 16 + t * 2) : 0u;
      a[kk][2 + half] = in ? *reinterpret_cast<const uint32_t*>(row + kk * 16 + t * 2 + 8) : 0u;
    }
  }
}

// Starts copying rows [r0, r0 + N) x HD of a bf16 tensor into a shared tile [row][ld] (cp.async, 16 bytes
// a thread at a time; rows at or past `limit` are zero-filled). The caller commits and waits.
template <int HD, int N>
__device__ __forceinline__ void copyTile(uint16_t* tile, int ld, const uint16_t* src, int64_t stride, int r0,
                                         int limit) {
  constexpr int kChunks = HD / 8;
  for (int e = threadIdx.x; e < N * kChunks; e += kThreads) {
    const int r = e / kChunks, c = (e % kChunks) * 8;
    const bool in = r0 + r < limit;
    const uint16_t* from = in ? src + int64_t(r0 + r) * stride + c : src;
    const uint32_t to = static_cast<uint32_t>(__cvta_generic_to_shared(tile + r * ld + c));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(to), "l"(from), "r"(in ? 16 : 0));
  }
}
__device__ __forceinline__ void commitCopies() { asm volatile("cp.async.commit_group;\n" ::); }
template <int PENDING>
__device__ __forceinline__ void waitCopies() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING));
}

// Rows [r0, r0 + N) of two tensors of one layout (keys and values, or queries and their gradients) into
// their tiles as one copy group.
template <int HD, int N>
__device__ __forceinline__ void copyPair(uint16_t* a, uint16_t* b, int ld, const uint16_t* srcA, const uint16_t* srcB,
                                         int64_t stride, int r0, int limit) {
  copyTile<HD, N>(a, ld, srcA, stride, r0, limit);
  copyTile<HD, N>(b, ld, srcB, stride, r0, limit);
  commitCopies();
}

// Waits for the current stage's pair; when `next` is true, first starts the copy of the next rows (r0)
// into the other stage, so that it runs during the current tile's products.
template <int HD, int N>
__device__ __forceinline__ void nextPair(bool next, uint16_t* a, uint16_t* b, int ld, const uint16_t* srcA,
                                         const uint16_t* srcB, int64_t stride, int r0, int limit) {
  if (next) {
    copyPair<HD, N>(a, b, ld, srcA, srcB, stride, r0, limit);
    waitCopies<1>();
  } else {
    waitCopies<0>();
  }
}

// Segment ids of keys [j0, j0 + n) (key j >= P is the row's token j - P; prefix keys and keys past K: 0).
__device__ __forceinline__ void loadKeySegs(int32_t* dst, const int32_t* seg, const AttnDims& d, int b, int j0, int n) {
  const int P = d.K - d.S;
  for (int r = threadIdx.x; r < n; r += kThreads) {
    const int j = j0 + r;
    dst[r] = j >= P && j < d.K ? seg[int64_t(b) * d.S + (j - P)] : 0;
  }
}

// ---- Forward ----
template <int HD, int KT>
__global__ void __launch_bounds__(kThreads) kMmaForward(const uint16_t* q, const uint16_t* k, const uint16_t* v,
                                                        const int32_t* seg, float* out, float* lse, AttnDims d,
                                                        float scale) {
  constexpr int LDK = HD + 8;  // padded rows: ldmatrix's 8 row reads hit distinct banks
  __shared__ __align__(16) uint16_t ks[2][KT * LDK];
  __shared__ __align__(16) uint16_t vs[2][KT * LDK];
  __shared__ int32_t segK[KT];
  const int b = blockIdx.z, h = blockIdx.y, s0 = (gridDim.x - 1 - blockIdx.x) * kRowsPerBlock;  // long rows first
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int G = d.H / d.KV, kvh = h / G, qw = d.H * HD, kw = d.KV * HD, P = d.K - d.S;
  const int rw = s0 + warp * 16, rows[2] = {rw + g, rw + g + 8};
  const uint16_t* kb = k + int64_t(b) * d.K * kw + kvh * HD;
  const uint16_t* vb = v + int64_t(b) * d.K * kw + kvh * HD;
  copyPair<HD, KT>(ks[0], vs[0], LDK, kb, vb, kw, 0, d.K);
  uint32_t qa[HD / 16][4];
  loadA<HD>(qa, q + int64_t(b) * d.S * qw + h * HD, qw, rw, d.S, lane);
  int32_t segQ[2] = {0, 0};
  if (seg)
    for (int r = 0; r < 2; r++) segQ[r] = rows[r] < d.S ? seg[int64_t(b) * d.S + rows[r]] : 0;
  const float scale2 = scale * kLog2e;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0, 0}, o[HD / 8][4] = {};
  const int kEnd = P + min(s0 + kRowsPerBlock, d.S);
  for (int j0 = 0, cur = 0; j0 < kEnd; j0 += KT, cur ^= 1) {
    nextPair<HD, KT>(j0 + KT < kEnd, ks[cur ^ 1], vs[cur ^ 1], LDK, kb, vb, kw, j0 + KT, d.K);
    if (seg) loadKeySegs(segK, seg, d, b, j0, KT);
    __syncthreads();
    if (j0 <= P + rw + 15) {  // else no row of this warp sees the tile
      float sc[KT / 8][4];
#pragma unroll
      for (int nt = 0; nt < KT / 8; nt++) sc[nt][0] = sc[nt][1] = sc[nt][2] = sc[nt][3] = 0;
#pragma unroll
      for (int kk = 0; kk < HD / 16; kk++) mmaRow<false, KT>(sc, qa[kk], ks[cur], LDK, kk * 16, lane);  // S = Q K^T
      const bool full = !seg && j0 + KT - 1 <= P + rw;  // every key visible to every row of the warp
#pragma unroll
      for (int r = 0; r < 2; r++) {
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < KT / 8; nt++)
#pragma unroll
          for (int e = 0; e < 2; e++) {
            const int j = j0 + nt * 8 + t * 2 + e;
            const bool vis = full || (rows[r] < d.S && j < d.K &&
                                      attnVisibleIds(seg != nullptr, segQ[r], seg ? segK[j - j0] : 0, P, rows[r], j));
            const float x = vis ? sc[nt][2 * r + e] * scale2 : -INFINITY;
            sc[nt][2 * r + e] = x;
            mx = fmaxf(mx, x);
          }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float mNew = fmaxf(m[r], mx);
        const float alpha = m[r] == -INFINITY ? 0.0f : exp2f(m[r] - mNew);
        float sum = 0;
#pragma unroll
        for (int nt = 0; nt < KT / 8; nt++)
#pragma unroll
          for (int e = 0; e < 2; e++) {
            const float p = mNew == -INFINITY ? 0.0f : exp2f(sc[nt][2 * r + e] - mNew);  // masked: exp2(-inf) = 0
            sc[nt][2 * r + e] = p;
            sum += p;
          }
        l[r] = l[r] * alpha + sum;  // this thread's part of the row sum; the 4 parts are added at the end
        m[r] = mNew;
#pragma unroll
        for (int nt = 0; nt < HD / 8; nt++) o[nt][2 * r] *= alpha, o[nt][2 * r + 1] *= alpha;
      }
#pragma unroll
      for (int kk = 0; kk < KT / 16; kk++) {
        uint32_t pa[4];
        accToA(pa, sc[2 * kk], sc[2 * kk + 1]);
        mmaRow<true, HD>(o, pa, vs[cur], LDK, kk * 16, lane);  // O += P V
      }
    }
    __syncthreads();  // the tile's buffers are refilled next-but-one iteration
  }
#pragma unroll
  for (int r = 0; r < 2; r++) {
    float sum = l[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    if (rows[r] >= d.S) continue;
    const float inv = 1.0f / sum;
    float* dst = out + (int64_t(b) * d.S + rows[r]) * qw + h * HD + t * 2;
#pragma unroll
    for (int nt = 0; nt < HD / 8; nt++)
      *reinterpret_cast<float2*>(dst + nt * 8) = make_float2(o[nt][2 * r] * inv, o[nt][2 * r + 1] * inv);
    if (t == 0) lse[(int64_t(b) * d.H + h) * d.S + rows[r]] = (m[r] + log2f(sum)) * kLn2;
  }
}

// ---- Backward: dq over key tiles ----
template <int HD, int KT>
__global__ void __launch_bounds__(kThreads) kMmaBackwardDq(const uint16_t* q, const uint16_t* k, const uint16_t* v,
                                                           const int32_t* seg, const float* rowD, const float* lse,
                                                           const uint16_t* dout, float* dq, AttnDims d, float scale) {
  constexpr int LDK = HD + 8;
  __shared__ __align__(16) uint16_t ks[2][KT * LDK];
  __shared__ __align__(16) uint16_t vs[2][KT * LDK];
  __shared__ int32_t segK[KT];
  const int b = blockIdx.z, h = blockIdx.y, s0 = (gridDim.x - 1 - blockIdx.x) * kRowsPerBlock;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int G = d.H / d.KV, kvh = h / G, qw = d.H * HD, kw = d.KV * HD, P = d.K - d.S;
  const int rw = s0 + warp * 16, rows[2] = {rw + g, rw + g + 8};
  const int64_t qBase = int64_t(b) * d.S * qw + h * HD;
  const uint16_t* kb = k + int64_t(b) * d.K * kw + kvh * HD;
  const uint16_t* vb = v + int64_t(b) * d.K * kw + kvh * HD;
  copyPair<HD, KT>(ks[0], vs[0], LDK, kb, vb, kw, 0, d.K);
  uint32_t qa[HD / 16][4], da[HD / 16][4];
  loadA<HD>(qa, q + qBase, qw, rw, d.S, lane);
  loadA<HD>(da, dout + qBase, qw, rw, d.S, lane);
  // Per row: D = dO . O (f32, made by the launcher), the log-sum-exp (base 2) and the segment.
  float D[2], L2[2];
  int32_t segQ[2] = {0, 0};
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const bool in = rows[r] < d.S;
    const int64_t at = (int64_t(b) * d.H + h) * d.S + rows[r];
    D[r] = in ? rowD[at] : 0.0f;
    L2[r] = in ? lse[at] * kLog2e : 0.0f;
    if (seg && in) segQ[r] = seg[int64_t(b) * d.S + rows[r]];
  }
  const float scale2 = scale * kLog2e;
  float acc[HD / 8][4] = {};
  const int kEnd = P + min(s0 + kRowsPerBlock, d.S);
  for (int j0 = 0, cur = 0; j0 < kEnd; j0 += KT, cur ^= 1) {
    nextPair<HD, KT>(j0 + KT < kEnd, ks[cur ^ 1], vs[cur ^ 1], LDK, kb, vb, kw, j0 + KT, d.K);
    if (seg) loadKeySegs(segK, seg, d, b, j0, KT);
    __syncthreads();
    if (j0 <= P + rw + 15) {
      float sc[KT / 8][4], dp[KT / 8][4];
#pragma unroll
      for (int nt = 0; nt < KT / 8; nt++)
#pragma unroll
        for (int e = 0; e < 4; e++) sc[nt][e] = dp[nt][e] = 0;
#pragma unroll
      for (int kk = 0; kk < HD / 16; kk++) {
        mmaRow<false, KT>(sc, qa[kk], ks[cur], LDK, kk * 16, lane);  // S = Q K^T
        mmaRow<false, KT>(dp, da[kk], vs[cur], LDK, kk * 16, lane);  // dP = dO V^T
      }
      const bool full = !seg && j0 + KT - 1 <= P + rw;
#pragma unroll
      for (int nt = 0; nt < KT / 8; nt++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
          const int r = e / 2, j = j0 + nt * 8 + t * 2 + (e & 1);
          const bool vis = full || (rows[r] < d.S && j < d.K &&
                                    attnVisibleIds(seg != nullptr, segQ[r], seg ? segK[j - j0] : 0, P, rows[r], j));
          const float p = vis ? exp2f(sc[nt][e] * scale2 - L2[r]) : 0.0f;
          sc[nt][e] = attnDScore(p, dp[nt][e], D[r]) * scale;  // dS (0 where masked: p = 0)
        }
#pragma unroll
      for (int kk = 0; kk < KT / 16; kk++) {
        uint32_t sa[4];
        accToA(sa, sc[2 * kk], sc[2 * kk + 1]);
        mmaRow<true, HD>(acc, sa, ks[cur], LDK, kk * 16, lane);  // dQ += dS K
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < 2; r++) {
    if (rows[r] >= d.S) continue;
    float* dst = dq + int64_t(b) * d.S * qw + h * HD + int64_t(rows[r]) * qw + t * 2;
#pragma unroll
    for (int nt = 0; nt < HD / 8; nt++)
      *reinterpret_cast<float2*>(dst + nt * 8) = make_float2(acc[nt][2 * r], acc[nt][2 * r + 1]);
  }
}

// ---- Backward: dk, dv over query tiles, one query head per block ----
template <int HD, int QT>
__global__ void __launch_bounds__(kThreads) kMmaBackwardDkv(const uint16_t* q, const uint16_t* k, const uint16_t* v,
                                                            const int32_t* seg, const float* rowD, const float* lse,
                                                            const uint16_t* dout, float* dk, float* dv, AttnDims d,
                                                            float scale) {
  constexpr int LDK = HD + 8;
  __shared__ __align__(16) uint16_t qs[2][QT * LDK];
  __shared__ __align__(16) uint16_t ds[2][QT * LDK];
  __shared__ float Ds[QT], Ls[QT];
  __shared__ int32_t segQ[QT];
  const int b = blockIdx.z, h = blockIdx.y, j0 = blockIdx.x * kRowsPerBlock;  // early keys (most queries) first
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int G = d.H / d.KV, kvh = h / G, qw = d.H * HD, kw = d.KV * HD, P = d.K - d.S;
  const int kw0 = j0 + warp * 16, keys[2] = {kw0 + g, kw0 + g + 8};
  const int64_t kBase = int64_t(b) * d.K * kw + kvh * HD, qBase = int64_t(b) * d.S * qw + h * HD;
  const int sStart = (max(0, j0 - P) / QT) * QT;  // query s sees key j only if j <= P + s
  if (sStart < d.S) copyPair<HD, QT>(qs[0], ds[0], LDK, q + qBase, dout + qBase, qw, sStart, d.S);
  uint32_t ka[HD / 16][4], va[HD / 16][4];
  loadA<HD>(ka, k + kBase, kw, kw0, d.K, lane);
  loadA<HD>(va, v + kBase, kw, kw0, d.K, lane);
  int32_t segK[2] = {0, 0};
  if (seg)
    for (int r = 0; r < 2; r++) segK[r] = keys[r] >= P && keys[r] < d.K ? seg[int64_t(b) * d.S + keys[r] - P] : 0;
  const float scale2 = scale * kLog2e;
  float dK[HD / 8][4] = {}, dV[HD / 8][4] = {};
  for (int sq0 = sStart, cur = 0; sq0 < d.S; sq0 += QT, cur ^= 1) {
    nextPair<HD, QT>(sq0 + QT < d.S, qs[cur ^ 1], ds[cur ^ 1], LDK, q + qBase, dout + qBase, qw, sq0 + QT, d.S);
    for (int r = threadIdx.x; r < QT; r += kThreads) {
      const int s = sq0 + r;
      const int64_t at = (int64_t(b) * d.H + h) * d.S + s;
      Ls[r] = s < d.S ? lse[at] * kLog2e : 0.0f;
      Ds[r] = s < d.S ? rowD[at] : 0.0f;
      segQ[r] = seg && s < d.S ? seg[int64_t(b) * d.S + s] : 0;
    }
    __syncthreads();
    if (kw0 <= P + sq0 + QT - 1) {  // else no query of the tile sees this warp's keys
      float st[QT / 8][4], dpt[QT / 8][4];  // S^T = K Q^T, dP^T = V dO^T (keys are rows)
#pragma unroll
      for (int nt = 0; nt < QT / 8; nt++)
#pragma unroll
        for (int e = 0; e < 4; e++) st[nt][e] = dpt[nt][e] = 0;
#pragma unroll
      for (int kk = 0; kk < HD / 16; kk++) {
        mmaRow<false, QT>(st, ka[kk], qs[cur], LDK, kk * 16, lane);
        mmaRow<false, QT>(dpt, va[kk], ds[cur], LDK, kk * 16, lane);
      }
      const bool full = !seg && kw0 + 15 <= P + sq0 && sq0 + QT <= d.S;
#pragma unroll
      for (int nt = 0; nt < QT / 8; nt++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
          const int r = e / 2, c = nt * 8 + t * 2 + (e & 1), s = sq0 + c;
          const bool vis = full || (keys[r] < d.K && s < d.S &&
                                    attnVisibleIds(seg != nullptr, segQ[c], segK[r], P, s, keys[r]));
          const float p = vis ? exp2f(st[nt][e] * scale2 - Ls[c]) : 0.0f;
          dpt[nt][e] = attnDScore(p, dpt[nt][e], Ds[c]) * scale;
          st[nt][e] = p;
        }
#pragma unroll
      for (int kk = 0; kk < QT / 16; kk++) {
        uint32_t pa[4], sa[4];
        accToA(pa, st[2 * kk], st[2 * kk + 1]);
        accToA(sa, dpt[2 * kk], dpt[2 * kk + 1]);
        mmaRow<true, HD>(dV, pa, ds[cur], LDK, kk * 16, lane);  // dV += P^T dO
        mmaRow<true, HD>(dK, sa, qs[cur], LDK, kk * 16, lane);  // dK += dS^T Q
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < 2; r++) {
    if (keys[r] >= d.K) continue;
    float* dkr = dk + kBase + int64_t(keys[r]) * kw + t * 2;
    float* dvr = dv + kBase + int64_t(keys[r]) * kw + t * 2;
#pragma unroll
    for (int nt = 0; nt < HD / 8; nt++) {
      atomicAdd(dkr + nt * 8, dK[nt][2 * r]);
      atomicAdd(dkr + nt * 8 + 1, dK[nt][2 * r + 1]);
      atomicAdd(dvr + nt * 8, dV[nt][2 * r]);
      atomicAdd(dvr + nt * 8 + 1, dV[nt][2 * r + 1]);
    }
  }
}

// ---- The launchers' inputs: bf16 copies and D ----
__global__ void kToBf16(const float* src, uint16_t* dst, int64_t n4) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4; i += int64_t(gridDim.x) * blockDim.x) {
    const float4 x = reinterpret_cast<const float4*>(src)[i];
    reinterpret_cast<uint2*>(dst)[i] = make_uint2(pack(x.x, x.y), pack(x.z, x.w));
  }
}
void toBf16(const float* src, uint16_t* dst, int64_t n, cudaStream_t st) {
  const int64_t n4 = n / 4;  // n is a multiple of the head dim
  const int blocks = int(std::min<int64_t>((n4 + 255) / 256, 4096));
  kToBf16<<<blocks, 256, 0, st>>>(src, dst, n4);
}

// D[b, h, s] = dout . out over the head's HD values: one warp per (token, head).
template <int HD>
__global__ void kRowDot(const float* dout, const float* out, float* D, AttnDims d) {
  const int64_t w = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (w >= int64_t(d.B) * d.S * d.H) return;
  const int h = int(w % d.H);
  const int64_t token = w / d.H;  // b * S + s
  const float* x = dout + token * d.H * HD + h * HD;
  const float* y = out + token * d.H * HD + h * HD;
  float dot = 0;
#pragma unroll
  for (int c = lane * 2; c < HD; c += 64) dot += x[c] * y[c] + x[c + 1] * y[c + 1];
#pragma unroll
  for (int off = 16; off > 0; off /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, off);
  if (lane == 0) D[(token / d.S * d.H + h) * d.S + token % d.S] = dot;
}

// Device scratch kept between calls (bf16 copies, D): grown when a call needs more, never shrunk.
// Null where it cannot be had (the caller falls back to the CUDA-core kernels).
void* scratch(size_t bytes, cudaStream_t st) {
  static void* p = nullptr;
  static size_t have = 0;
  if (bytes <= have) return p;
  if (p) {
    cudaStreamSynchronize(st);  // earlier calls may still read it
    cudaFree(p);
    p = nullptr;
    have = 0;
  }
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    cudaGetLastError();  // cleared: the fallback runs, and the next launch check must not see it
    p = nullptr;
    return nullptr;
  }
  have = bytes;
  return p;
}

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

// bf16 q and dout, bf16 k and v, f32 D per (row, head, token): the cuda engine's memory model counts it.
size_t scratchBytes(const AttnDims& d) {
  const size_t qn = size_t(d.B) * d.S * d.H * d.hd, kn = size_t(d.B) * d.K * d.KV * d.hd;
  return align256(qn * 2) * 2 + align256(kn * 2) * 2 + align256(size_t(d.B) * d.H * d.S * 4);
}

}  // namespace

bool tcAttentionSupported(const AttnDims& d) { return d.hd == 64 || d.hd == 128; }

// Static shared memory (two stages) stays under 48 KiB (every target's default): key tiles of 64 (32 at
// head dim 128), dk/dv query tiles of 64 (16 at 128, where the block's keys, values and gradients fill
// the registers).
bool tcAttentionForward(const float* q, const float* k, const float* v, const int32_t* seg, float* out, float* lse,
                        AttnDims d, float scale, cudaStream_t st) {
  if (!tcAttentionSupported(d)) return false;
  const size_t qn = size_t(d.B) * d.S * d.H * d.hd, kn = size_t(d.B) * d.K * d.KV * d.hd;
  auto* base = static_cast<unsigned char*>(scratch(scratchBytes(d), st));
  if (!base) return false;
  auto* qb = reinterpret_cast<uint16_t*>(base);
  auto* kb = reinterpret_cast<uint16_t*>(base + align256(qn * 2) * 2);
  auto* vb = reinterpret_cast<uint16_t*>(base + align256(qn * 2) * 2 + align256(kn * 2));
  toBf16(q, qb, int64_t(qn), st);
  toBf16(k, kb, int64_t(kn), st);
  toBf16(v, vb, int64_t(kn), st);
  const dim3 grid((d.S + kRowsPerBlock - 1) / kRowsPerBlock, d.H, d.B);
  if (d.hd == 64) kMmaForward<64, 64><<<grid, kThreads, 0, st>>>(qb, kb, vb, seg, out, lse, d, scale);
  else kMmaForward<128, 32><<<grid, kThreads, 0, st>>>(qb, kb, vb, seg, out, lse, d, scale);
  return true;
}

template <int HD, int KT, int QT>
void backward(const uint16_t* q, const uint16_t* k, const uint16_t* v, const int32_t* seg, const float* rowD,
              const float* lse, const uint16_t* dout, float* dq, float* dk, float* dv, AttnDims d, float scale,
              cudaStream_t st) {
  const dim3 gq((d.S + kRowsPerBlock - 1) / kRowsPerBlock, d.H, d.B);
  kMmaBackwardDq<HD, KT><<<gq, kThreads, 0, st>>>(q, k, v, seg, rowD, lse, dout, dq, d, scale);
  const dim3 gk((d.K + kRowsPerBlock - 1) / kRowsPerBlock, d.H, d.B);
  kMmaBackwardDkv<HD, QT><<<gk, kThreads, 0, st>>>(q, k, v, seg, rowD, lse, dout, dk, dv, d, scale);
}

bool tcAttentionBackward(const float* q, const float* k, const float* v, const int32_t* seg, const float* out,
                         const float* lse, const float* dout, float* dq, float* dk, float* dv, AttnDims d, float scale,
                         cudaStream_t st) {
  if (!tcAttentionSupported(d)) return false;
  const size_t qn = size_t(d.B) * d.S * d.H * d.hd, kn = size_t(d.B) * d.K * d.KV * d.hd;
  auto* base = static_cast<unsigned char*>(scratch(scratchBytes(d), st));
  if (!base) return false;
  auto* qb = reinterpret_cast<uint16_t*>(base);
  auto* db = reinterpret_cast<uint16_t*>(base + align256(qn * 2));
  auto* kb = reinterpret_cast<uint16_t*>(base + align256(qn * 2) * 2);
  auto* vb = reinterpret_cast<uint16_t*>(base + align256(qn * 2) * 2 + align256(kn * 2));
  auto* rowD = reinterpret_cast<float*>(base + align256(qn * 2) * 2 + align256(kn * 2) * 2);
  toBf16(q, qb, int64_t(qn), st);
  toBf16(dout, db, int64_t(qn), st);
  toBf16(k, kb, int64_t(kn), st);
  toBf16(v, vb, int64_t(kn), st);
  const int64_t warps = int64_t(d.B) * d.S * d.H;
  const int blocks = int((warps * 32 + 255) / 256);
  if (d.hd == 64) {
    kRowDot<64><<<blocks, 256, 0, st>>>(dout, out, rowD, d);
    backward<64, 64, 64>(qb, kb, vb, seg, rowD, lse, db, dq, dk, dv, d, scale, st);
  } else {
    kRowDot<128><<<blocks, 256, 0, st>>>(dout, out, rowD, d);
    backward<128, 32, 16>(qb, kb, vb, seg, rowD, lse, db, dq, dk, dv, d, scale, st);
  }
  return true;
}

}  // namespace sftc::gpu
