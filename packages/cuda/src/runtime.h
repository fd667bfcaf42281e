// What the CUDA add-on opens at run time (dlopen), so that it loads on machines without a driver or
// cuBLASLt and says which is missing: the driver (libcuda) for the probe, cuBLASLt for the GEMMs.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace sftc::rt {

struct Device {
  std::string name;
  int major = 0, minor = 0;
  uint64_t bytes = 0;
};

struct Probe {
  bool driver = false;
  std::string driverError;  // why no driver / no device
  int driverVersion = 0;
  int deviceCount = 0;
  Device device;  // device 0
};
// Opens libcuda.so.1 and asks for device 0 (cuInit, no context is created).
Probe probeDriver();

// cuBLASLt through dlopen: bf16 inputs, fp32 accumulation.
struct Lt;
// Opens the library at `path`; null with `error` set when it cannot.
Lt* openLt(const std::string& path, std::string* error);
size_t ltVersion(Lt* lt);
// Row-major C[M,N] = alpha * op(A) @ op(B) + beta * C; A, B bf16; C float32 (cOutBf16 false) or bf16.
// op(A) is [M,K] (A stored [K,M] when transA); op(B) is [K,N] (B stored [N,K] when transB).
// Returns an empty string, or the failing call.
std::string gemmBf16(Lt* lt, bool transA, bool transB, int M, int N, int K, const void* A, const void* B, void* C,
                     bool cOutBf16, float alpha, float beta, void* workspace, size_t workspaceBytes,
                     cudaStream_t stream);

// The same with A and B of `abType` (CUDA_R_16BF or CUDA_R_32F: TF32 products unless SFTKIT_CUDA_TF32=0).
// Each shape's descriptors and algorithm are made once and kept.
std::string gemm(Lt* lt, cudaDataType_t abType, bool transA, bool transB, int M, int N, int K, const void* A,
                 const void* B, void* C, bool cOutBf16, float alpha, float beta, void* workspace,
                 size_t workspaceBytes, cudaStream_t stream);

}  // namespace sftc::rt
