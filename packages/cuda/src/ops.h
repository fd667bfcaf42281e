// Small launchers the training step needs beside kernels.h (device pointers, one stream).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace sftc::gpu {

// dst += alpha * src.
void axpy(float* dst, const float* src, float alpha, int64_t n, cudaStream_t stream);
// y[r, c] += b[c].
void addBias(float* y, const float* b, int64_t rows, int cols, cudaStream_t stream);
// db[c] += sum_r dy[r, c].
void biasGrad(float* db, const float* dy, int64_t rows, int cols, cudaStream_t stream);
// *out (a double, zeroed first) = sum of x^2.
void sumSquares(const float* x, int64_t n, double* out, cudaStream_t stream);

}  // namespace sftc::gpu
