// dlopen of the CUDA driver and cuBLASLt. cuBLASLt's few entry points are declared here (its C ABI
// and enum values are stable) because the toolkit on the build machines ships no cuBLAS headers.
#include "runtime.h"

#include <cuda.h>
#include <dlfcn.h>

namespace sftc::rt {

Probe probeDriver() {
  Probe p;
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    p.driverError = "no CUDA driver (libcuda.so.1 not found)";
    return p;
  }
  using Init = CUresult (*)(unsigned);
  using Int = CUresult (*)(int*);
  using Get = CUresult (*)(CUdevice*, int);
  using Attr = CUresult (*)(int*, CUdevice_attribute, CUdevice);
  using Name = CUresult (*)(char*, int, CUdevice);
  using Mem = CUresult (*)(size_t*, CUdevice);
  auto init = reinterpret_cast<Init>(dlsym(lib, "cuInit"));
  auto version = reinterpret_cast<Int>(dlsym(lib, "cuDriverGetVersion"));
  auto count = reinterpret_cast<Int>(dlsym(lib, "cuDeviceGetCount"));
  auto get = reinterpret_cast<Get>(dlsym(lib, "cuDeviceGet"));
  auto attr = reinterpret_cast<Attr>(dlsym(lib, "cuDeviceGetAttribute"));
  auto name = reinterpret_cast<Name>(dlsym(lib, "cuDeviceGetName"));
  auto mem = reinterpret_cast<Mem>(dlsym(lib, "cuDeviceTotalMem_v2"));
  if (!init || !version || !count || !get || !attr || !name || !mem) {
    p.driverError = "libcuda.so.1 lacks the driver API entry points";
    return p;
  }
  version(&p.driverVersion);
  const CUresult r = init(0);
  if (r != CUDA_SUCCESS) {
    p.driverError = "cuInit failed (error " + std::to_string(int(r)) + "): no usable GPU or driver";
    return p;
  }
  count(&p.deviceCount);
  if (p.deviceCount < 1) {
    p.driverError = "the CUDA driver sees no GPU";
    return p;
  }
  CUdevice dev;
  get(&dev, 0);
  char buf[256] = {0};
  name(buf, sizeof buf - 1, dev);
  p.device.name = buf;
  attr(&p.device.major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
  attr(&p.device.minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
  size_t bytes = 0;
  mem(&bytes, dev);
  p.device.bytes = bytes;
  p.driver = true;
  return p;
}

namespace {
// cublasLt.h's values (CUDA 11-13).
using Status = int;                 // CUBLAS_STATUS_SUCCESS = 0
using Handle = void*;               // cublasLtHandle_t
using Desc = void*;                 // cublasLtMatmulDesc_t
using Layout = void*;               // cublasLtMatrixLayout_t
constexpr int kCompute32F = 68;     // CUBLAS_COMPUTE_32F
constexpr int kAttrTransA = 3;      // CUBLASLT_MATMUL_DESC_TRANSA
constexpr int kAttrTransB = 4;      // CUBLASLT_MATMUL_DESC_TRANSB
constexpr int kOpN = 0, kOpT = 1;   // CUBLAS_OP_N, CUBLAS_OP_T
}  // namespace

struct Lt {
  void* lib = nullptr;
  Handle handle = nullptr;
  Status (*create)(Handle*) = nullptr;
  size_t (*version)() = nullptr;
  Status (*descCreate)(Desc*, int, cudaDataType_t) = nullptr;
  Status (*descDestroy)(Desc) = nullptr;
  Status (*descSet)(Desc, int, const void*, size_t) = nullptr;
  Status (*layoutCreate)(Layout*, cudaDataType_t, uint64_t, uint64_t, int64_t) = nullptr;
  Status (*layoutDestroy)(Layout) = nullptr;
  Status (*matmul)(Handle, Desc, const void*, const void*, Layout, const void*, Layout, const void*, const void*,
                   Layout, void*, Layout, const void*, void*, size_t, cudaStream_t) = nullptr;
};

template <typename F>
static bool sym(void* lib, const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(lib, name));
  return *out != nullptr;
}

Lt* openLt(const std::string& path, std::string* error) {
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    *error = e ? e : "dlopen failed";
    return nullptr;
  }
  auto* lt = new Lt();
  lt->lib = lib;
  if (!sym(lib, "cublasLtCreate", &lt->create) || !sym(lib, "cublasLtGetVersion", &lt->version) ||
      !sym(lib, "cublasLtMatmulDescCreate", &lt->descCreate) ||
      !sym(lib, "cublasLtMatmulDescDestroy", &lt->descDestroy) ||
      !sym(lib, "cublasLtMatmulDescSetAttribute", &lt->descSet) ||
      !sym(lib, "cublasLtMatrixLayoutCreate", &lt->layoutCreate) ||
      !sym(lib, "cublasLtMatrixLayoutDestroy", &lt->layoutDestroy) || !sym(lib, "cublasLtMatmul", &lt->matmul)) {
    *error = path + " lacks cuBLASLt entry points";
    delete lt;
    return nullptr;
  }
  return lt;
}

size_t ltVersion(Lt* lt) { return lt->version(); }

std::string gemmBf16(Lt* lt, bool transA, bool transB, int M, int N, int K, const void* A, const void* B, void* C,
                     bool cOutBf16, float alpha, float beta, void* workspace, size_t workspaceBytes,
                     cudaStream_t stream) {
  return gemm(lt, CUDA_R_16BF, transA, transB, M, N, K, A, B, C, cOutBf16, alpha, beta, workspace, workspaceBytes,
              stream);
}

std::string gemm(Lt* lt, cudaDataType_t abType, bool transA, bool transB, int M, int N, int K, const void* A,
                 const void* B, void* C, bool cOutBf16, float alpha, float beta, void* workspace,
                 size_t workspaceBytes, cudaStream_t stream) {
  if (!lt->handle && lt->create(&lt->handle) != 0) return "cublasLtCreate";
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLASLt's first operand is B.
  const int opFirst = transB ? kOpT : kOpN, opSecond = transA ? kOpT : kOpN;
  Desc desc = nullptr;
  Layout lFirst = nullptr, lSecond = nullptr, lC = nullptr;
  std::string err;
  const cudaDataType_t cType = cOutBf16 ? CUDA_R_16BF : CUDA_R_32F;
  if (lt->descCreate(&desc, kCompute32F, CUDA_R_32F) != 0) err = "cublasLtMatmulDescCreate";
  else if (lt->descSet(desc, kAttrTransA, &opFirst, sizeof opFirst) != 0 ||
           lt->descSet(desc, kAttrTransB, &opSecond, sizeof opSecond) != 0)
    err = "cublasLtMatmulDescSetAttribute";
  else if (lt->layoutCreate(&lFirst, abType, transB ? K : N, transB ? N : K, transB ? K : N) != 0 ||
           lt->layoutCreate(&lSecond, abType, transA ? M : K, transA ? K : M, transA ? M : K) != 0 ||
           lt->layoutCreate(&lC, cType, N, M, N) != 0)
    err = "cublasLtMatrixLayoutCreate";
  else if (lt->matmul(lt->handle, desc, &alpha, B, lFirst, A, lSecond, &beta, C, lC, C, lC, nullptr, workspace,
                      workspaceBytes, stream) != 0)
    err = "cublasLtMatmul";
  if (lC) lt->layoutDestroy(lC);
  if (lSecond) lt->layoutDestroy(lSecond);
  if (lFirst) lt->layoutDestroy(lFirst);
  if (desc) lt->descDestroy(desc);
  return err;
}

}  // namespace sftc::rt
