// Launchers of the CUDA kernels (kernels.cu). Pointers are device memory; everything runs on
// `stream` asynchronously. Layouts are those of reference.h (and @sftkit/native).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace sftc::gpu {

struct AttnDims {
  int B, S, K, H, KV, hd;
};
// The attention kernels keep a query row's accumulator in registers: hd at most this.
constexpr int kMaxHeadDim = 256;

void bf16ToF32(const uint16_t* src, float* dst, int64_t n, cudaStream_t stream);
void f32ToBf16(const float* src, uint16_t* dst, int64_t n, cudaStream_t stream);
void rmsNormForward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int dim, float eps,
                    cudaStream_t stream);
// dw (when not null) is added to.
void rmsNormBackward(const float* dy, const float* x, const float* w, const float* rstd, float* dx, float* dw,
                     int64_t rows, int dim, cudaStream_t stream);
void rope(const float* x, const float* cos, const float* sin, float* y, int64_t T, int heads, int hd, bool inverse,
          cudaStream_t stream);
void swigluForward(const float* g, const float* u, float* y, int64_t n, cudaStream_t stream);
void swigluBackward(const float* dy, const float* g, const float* u, float* dg, float* du, int64_t n,
                    cudaStream_t stream);
void attentionForward(const float* q, const float* k, const float* v, const int32_t* seg, float* out, float* lse,
                      AttnDims d, float scale, cudaStream_t stream);
// dq is written; dk and dv are added to (zero them first).
void attentionBackward(const float* q, const float* k, const float* v, const int32_t* seg, const float* out,
                       const float* lse, const float* dout, float* dq, float* dk, float* dv, AttnDims d, float scale,
                       cudaStream_t stream);
// rowLoss [rows] (0 for target -100); grad (when not null) [rows, V] = gradScale * dLoss/dlogits (may be logits).
void crossEntropy(const float* logits, const int32_t* targets, int64_t rows, int V, float gradScale, float* rowLoss,
                  float* grad, cudaStream_t stream);
void adamw(float* p, const float* g, float* m, float* v, int64_t n, float lr, float b1, float b2, float eps, float wd,
           float c1, float c2, float gradScale, cudaStream_t stream);
// out (float32 or bf16) of n values; absmax or (absmaxCodes, absmaxScales, offset).
void nf4Dequantize(const uint8_t* codes, const float* absmax, const int8_t* absmaxCodes, const float* absmaxScales,
                   float offset, int blockSize, float* outF32, uint16_t* outBf16, int64_t n, cudaStream_t stream);
void embeddingGather(const uint16_t* table, const int32_t* ids, float* out, int64_t T, int dim, cudaStream_t stream);
void embeddingScatterAdd(const float* dy, const int32_t* ids, float* dTable, int64_t T, int dim, cudaStream_t stream);

}  // namespace sftc::gpu
