// The training step's small element-wise kernels and reductions (ops.h).
#include "ops.h"

namespace sftc::gpu {
namespace {

constexpr int kThreads = 256;
inline unsigned blocksFor(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

__global__ void kAxpy(float* d, const float* s, float a, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) d[i] += a * s[i];
}
__global__ void kAddBias(float* y, const float* b, int64_t n, int cols) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) y[i] += b[i % cols];
}
// One thread per column: rows are summed in order (deterministic).
__global__ void kBiasGrad(float* db, const float* dy, int64_t rows, int cols) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float s = 0;
  for (int64_t r = 0; r < rows; r++) s += dy[r * cols + c];
  db[c] += s;
}
__global__ void kSumSquares(const float* x, int64_t n, double* out) {
  __shared__ double part[kThreads];
  double s = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    s += double(x[i]) * x[i];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int o = blockDim.x / 2; o > 0; o >>= 1) {
    if (threadIdx.x < o) part[threadIdx.x] += part[threadIdx.x + o];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(out, part[0]);
}

}  // namespace

void axpy(float* dst, const float* src, float alpha, int64_t n, cudaStream_t stream) {
  if (n > 0) kAxpy<<<blocksFor(n), kThreads, 0, stream>>>(dst, src, alpha, n);
}
void addBias(float* y, const float* b, int64_t rows, int cols, cudaStream_t stream) {
  const int64_t n = rows * cols;
  if (n > 0) kAddBias<<<blocksFor(n), kThreads, 0, stream>>>(y, b, n, cols);
}
void biasGrad(float* db, const float* dy, int64_t rows, int cols, cudaStream_t stream) {
  if (cols > 0) kBiasGrad<<<blocksFor(cols), kThreads, 0, stream>>>(db, dy, rows, cols);
}
void sumSquares(const float* x, int64_t n, double* out, cudaStream_t stream) {
  cudaMemsetAsync(out, 0, sizeof(double), stream);
  const unsigned blocks = n > 0 ? (blocksFor(n) < 1024 ? blocksFor(n) : 1024) : 1;
  kSumSquares<<<blocks, kThreads, 0, stream>>>(x, n, out);
}

}  // namespace sftc::gpu
