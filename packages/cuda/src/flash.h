// Tiled (flash-style) attention kernels (flash.cu), used by kernels.cu's attention launchers where they
// apply; same layouts and contracts as those launchers (dq written, dk and dv added to).
#pragma once
#include <cuda_runtime.h>

#include <initializer_list>

#include "kernels.h"

namespace sftc::gpu {

// Whether the tiled kernels take these dims and buffers (head dim 16/32/64/128, 16-byte aligned rows,
// SFTKIT_CUDA_ATTENTION not "rows").
bool flashAttentionSupported(const AttnDims& d, std::initializer_list<const void*> ptrs);
void flashAttentionForward(const float* q, const float* k, const float* v, const int32_t* seg, float* out,
                           float* lse, AttnDims d, float scale, cudaStream_t stream);
void flashAttentionBackward(const float* q, const float* k, const float* v, const int32_t* seg, const float* out,
                            const float* lse, const float* dout, float* dq, float* dk, float* dv, AttnDims d,
                            float scale, cudaStream_t stream);

}  // namespace sftc::gpu
