// Tiled (flash-style) attention kernels (flash.cu), used by kernels.cu's attention launchers where they
// apply; same layouts and contracts as those launchers (dq written, dk and dv added to).
#pragma once
#include <cuda_runtime.h>

#include <initializer_list>

#include "kernels.h"

namespace sftc::gpu {

enum class AttentionKernel { Rows, Tiled, Tensor };
// Which kernels take these dims and buffers: tensor cores (flash_tc.cu, head dims 64, 128), else the tiled
// CUDA-core kernels (head dim 16/32/64/128), else the per-row ones; rows must be 16-byte aligned.
// SFTKIT_CUDA_ATTENTION=rows or =tiled caps the choice.
AttentionKernel chooseAttention(const AttnDims& d, std::initializer_list<const void*> ptrs);
void flashAttentionForward(const float* q, const float* k, const float* v, const int32_t* seg, float* out,
                           float* lse, AttnDims d, float scale, cudaStream_t stream);
void flashAttentionBackward(const float* q, const float* k, const float* v, const int32_t* seg, const float* out,
                            const float* lse, const float* dout, float* dq, float* dk, float* dv, AttnDims d,
                            float scale, cudaStream_t stream);

}  // namespace sftc::gpu

namespace sftc::gpu {
// Tensor-core kernels (flash_tc.cu: bf16, head dims 64 and 128); false: not for these dims, use another.
bool tcAttentionSupported(const AttnDims& d);
bool tcAttentionForward(const float* q, const float* k, const float* v, const int32_t* seg, float* out, float* lse,
                        AttnDims d, float scale, cudaStream_t stream);
bool tcAttentionBackward(const float* q, const float* k, const float* v, const int32_t* seg, const float* out,
                         const float* lse, const float* dout, float* dq, float* dk, float* dv, AttnDims d, float scale,
                         cudaStream_t stream);
}  // namespace sftc::gpu
