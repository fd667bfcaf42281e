// dlopen of the CUDA driver and cuBLASLt. cuBLASLt's few entry points are declared here (its C ABI
// and enum values are stable) because the toolkit on the build machines ships no cuBLAS headers.
#include "runtime.h"

#include <cuda.h>
#include <dlfcn.h>

#include <cstdlib>
#include <initializer_list>
#include <map>
#include <tuple>

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
using Pref = void*;                 // cublasLtMatmulPreference_t
constexpr int kCompute32F = 68;     // CUBLAS_COMPUTE_32F
constexpr int kComputeTf32 = 77;    // CUBLAS_COMPUTE_32F_FAST_TF32
constexpr int kAttrTransA = 3;      // CUBLASLT_MATMUL_DESC_TRANSA
constexpr int kAttrTransB = 4;      // CUBLASLT_MATMUL_DESC_TRANSB
constexpr int kOpN = 0, kOpT = 1;   // CUBLAS_OP_N, CUBLAS_OP_T
constexpr int kPrefWorkspace = 1;   // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES
constexpr int kPrefAlignA = 5;      // CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES (B, C, D: 6, 7, 8)
struct Algo {
  uint64_t data[8];  // cublasLtMatmulAlgo_t
};
struct Heuristic {  // cublasLtMatmulHeuristicResult_t
  Algo algo;
  size_t workspaceSize;
  int state;
  float wavesCount;
  int reserved[4];
};
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
  // Optional (the algorithm cache): without them every call lets cublasLtMatmul pick.
  Status (*prefCreate)(Pref*) = nullptr;
  Status (*prefDestroy)(Pref) = nullptr;
  Status (*prefSet)(Pref, int, const void*, size_t) = nullptr;
  Status (*heuristic)(Handle, Desc, Layout, Layout, Layout, Layout, Pref, int, Heuristic*, int*) = nullptr;
  // One descriptor set and algorithm per GEMM shape: cublasLtMatmul with no algorithm runs the heuristic
  // query on the host at every call (thousands per step).
  struct Plan {
    Desc desc = nullptr;
    Layout first = nullptr, second = nullptr, c = nullptr;
    bool hasAlgo = false;
    Algo algo{};
  };
  std::map<std::tuple<int, bool, bool, int, int, int, bool, int, size_t>, Plan> plans;
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
  if (!sym(lib, "cublasLtMatmulPreferenceCreate", &lt->prefCreate) ||
      !sym(lib, "cublasLtMatmulPreferenceDestroy", &lt->prefDestroy) ||
      !sym(lib, "cublasLtMatmulPreferenceSetAttribute", &lt->prefSet) ||
      !sym(lib, "cublasLtMatmulAlgoGetHeuristic", &lt->heuristic))
    lt->heuristic = nullptr;
  return lt;
}

size_t ltVersion(Lt* lt) { return lt->version(); }

std::string gemmBf16(Lt* lt, bool transA, bool transB, int M, int N, int K, const void* A, const void* B, void* C,
                     bool cOutBf16, float alpha, float beta, void* workspace, size_t workspaceBytes,
                     cudaStream_t stream) {
  return gemm(lt, CUDA_R_16BF, transA, transB, M, N, K, A, B, C, cOutBf16, alpha, beta, workspace, workspaceBytes,
              stream);
}

namespace {
// The largest power of two (up to 256) every pointer is aligned to: algorithms are chosen for it.
int alignmentOf(std::initializer_list<const void*> ptrs) {
  int a = 256;
  for (const void* p : ptrs)
    while (a > 1 && reinterpret_cast<uintptr_t>(p) % a) a /= 2;
  return a;
}
// f32 operands multiply on tensor cores in TF32 (10 mantissa bits, as PyTorch's allow_tf32 and finer
// than the bf16 GEMMs around them); SFTKIT_CUDA_TF32=0 keeps full f32 products.
int computeFor(cudaDataType_t abType) {
  static const bool tf32 = [] {
    const char* e = std::getenv("SFTKIT_CUDA_TF32");
    return !(e && std::string(e) == "0");
  }();
  return abType == CUDA_R_32F && tf32 ? kComputeTf32 : kCompute32F;
}
}  // namespace

std::string gemm(Lt* lt, cudaDataType_t abType, bool transA, bool transB, int M, int N, int K, const void* A,
                 const void* B, void* C, bool cOutBf16, float alpha, float beta, void* workspace,
                 size_t workspaceBytes, cudaStream_t stream) {
  if (!lt->handle && lt->create(&lt->handle) != 0) return "cublasLtCreate";
  const int align = alignmentOf({A, B, C});
  const auto key = std::make_tuple(int(abType), transA, transB, M, N, K, cOutBf16, align, workspaceBytes);
  auto found = lt->plans.find(key);
  if (found == lt->plans.end()) {
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLASLt's first operand is B.
    const int opFirst = transB ? kOpT : kOpN, opSecond = transA ? kOpT : kOpN;
    const cudaDataType_t cType = cOutBf16 ? CUDA_R_16BF : CUDA_R_32F;
    Lt::Plan p;
    std::string err;
    if (lt->descCreate(&p.desc, computeFor(abType), CUDA_R_32F) != 0) err = "cublasLtMatmulDescCreate";
    else if (lt->descSet(p.desc, kAttrTransA, &opFirst, sizeof opFirst) != 0 ||
             lt->descSet(p.desc, kAttrTransB, &opSecond, sizeof opSecond) != 0)
      err = "cublasLtMatmulDescSetAttribute";
    else if (lt->layoutCreate(&p.first, abType, transB ? K : N, transB ? N : K, transB ? K : N) != 0 ||
             lt->layoutCreate(&p.second, abType, transA ? M : K, transA ? K : M, transA ? M : K) != 0 ||
             lt->layoutCreate(&p.c, cType, N, M, N) != 0)
      err = "cublasLtMatrixLayoutCreate";
    if (!err.empty()) {
      if (p.c) lt->layoutDestroy(p.c);
      if (p.second) lt->layoutDestroy(p.second);
      if (p.first) lt->layoutDestroy(p.first);
      if (p.desc) lt->descDestroy(p.desc);
      return err;
    }
    Pref pref = nullptr;
    if (lt->heuristic && lt->prefCreate(&pref) == 0) {
      const uint64_t ws = workspaceBytes;
      const uint32_t al = uint32_t(align);
      bool ok = lt->prefSet(pref, kPrefWorkspace, &ws, sizeof ws) == 0;
      for (int attr = kPrefAlignA; attr < kPrefAlignA + 4; attr++) ok = ok && lt->prefSet(pref, attr, &al, sizeof al) == 0;
      Heuristic h{};
      int count = 0;
      if (ok && lt->heuristic(lt->handle, p.desc, p.first, p.second, p.c, p.c, pref, 1, &h, &count) == 0 && count > 0 &&
          h.state == 0) {
        p.hasAlgo = true;
        p.algo = h.algo;
      }
      lt->prefDestroy(pref);
    }
    found = lt->plans.emplace(key, p).first;
  }
  Lt::Plan& p = found->second;
  if (lt->matmul(lt->handle, p.desc, &alpha, B, p.first, A, p.second, &beta, C, p.c, C, p.c,
                 p.hasAlgo ? &p.algo : nullptr, workspace, workspaceBytes, stream) == 0)
    return "";
  // The cached algorithm refused (it should not): let cuBLASLt choose, from now on too.
  if (p.hasAlgo && lt->matmul(lt->handle, p.desc, &alpha, B, p.first, A, p.second, &beta, C, p.c, C, p.c, nullptr,
                              workspace, workspaceBytes, stream) == 0) {
    p.hasAlgo = false;
    return "";
  }
  return "cublasLtMatmul";
}

}  // namespace sftc::rt
