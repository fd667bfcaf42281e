// Shared by the kernels: BLAS prototypes (declared here so no cblas.h is needed at build time),
// N-API argument helpers and the thread count.
#pragma once
#include <node_api.h>
#include <algorithm>
#include <cstdint>
#include <string>

extern "C" {
enum SftCblasOrder { SftRowMajor = 101 };
enum SftCblasTranspose { SftNoTrans = 111, SftTrans = 112 };
void cblas_sgemm(int order, int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc);
}

namespace sft {

// Threads the kernels (and BLAS) use; set from JS to the wasm backend's thread count.
int threads();
void setThreads(int n);
// Runs fn over [0, n) split across threads(); BLAS calls inside run single-threaded.
template <typename F>
void parallelFor(int64_t n, F fn);

// row-major C[M,N] = alpha * op(A) op(B) + beta * C with explicit leading dimensions.
void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
          float beta, float* C, int ldc);
// The same, forced onto the calling thread (inside parallelFor).
void gemmSerial(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                float beta, float* C, int ldc);

// Argument readers: they throw a JS error and return false on a wrong type.
bool argF32(napi_env env, napi_value v, float** out, size_t* len, const char* what);
bool argI32Array(napi_env env, napi_value v, int32_t** out, size_t* len, const char* what);
bool argU8(napi_env env, napi_value v, uint8_t** out, size_t* len, const char* what);
bool argU16(napi_env env, napi_value v, uint16_t** out, size_t* len, const char* what);
bool argI8(napi_env env, napi_value v, int8_t** out, size_t* len, const char* what);
// A RangeError "fn: what has len values, needs need"; false when short.
bool checkLength(napi_env env, size_t len, int64_t need, const char* what, const char* fn);
// A RangeError "fn: message".
void rangeError(napi_env env, const char* fn, const std::string& message);
// Reused per-thread float32 scratch of at least n values (slot picks one of a few buffers).
float* scratch(size_t n, int slot);
bool argInt(napi_env env, napi_value v, int64_t* out, const char* what);
bool argNum(napi_env env, napi_value v, double* out, const char* what);
bool argBool(napi_value v, napi_env env, bool* out, const char* what);
bool isNullish(napi_env env, napi_value v);
// Fetches exactly n arguments (error when fewer).
bool args(napi_env env, napi_callback_info info, size_t n, napi_value* out, const char* fn);
// Fetches `total` arguments, the last total - required optional (undefined when not given).
bool argsOptional(napi_env env, napi_callback_info info, size_t required, size_t total, napi_value* out,
                  const char* fn);
void defineFunction(napi_env env, napi_value exports, const char* name, napi_callback cb);

}  // namespace sft

namespace sft {
// exp(x) for float lanes, vectorizable (Cephes expf: range reduction x = n ln2 + r, |r| <= ln2/2,
// a degree-7 polynomial for e^r, 2^n built in the exponent bits). Relative error ~1e-7. Inputs
// below -87.34 (exp under the smallest normal float, -inf included) give 0; inputs above 88 are
// clamped to 88 (exp 1.65e38, finite); so no inf or NaN comes out of a finite or infinite input.
inline __attribute__((always_inline)) float fastExp(float x) {
  const float lo = -87.33654f;
  const float xc = x > 88.0f ? 88.0f : (x < lo ? lo : x);
  const float t = xc * 1.44269504088896341f + 12582912.f;  // round to nearest via 1.5 * 2^23
  const float n = t - 12582912.f;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return x < lo ? 0.0f : p * __builtin_bit_cast(float, bits);
}

// A pthread-built OpenBLAS would start its own threads inside ours: it is held to one meanwhile.
void enterParallel();
void leaveParallel();
}  // namespace sft

template <typename F>
void sft::parallelFor(int64_t n, F fn) {
  const int t = threads();
  if (t <= 1 || n <= 1) {
    for (int64_t i = 0; i < n; i++) fn(i);
    return;
  }
  enterParallel();
#pragma omp parallel for num_threads(t) schedule(static)
  for (int64_t i = 0; i < n; i++) fn(i);
  leaveParallel();
}

// Per-file registration hooks, called by addon.cc's Init.
void registerAttention(napi_env env, napi_value exports);
void registerFused(napi_env env, napi_value exports);
void registerOptim(napi_env env, napi_value exports);
void registerQuant(napi_env env, napi_value exports);
void registerStorage(napi_env env, napi_value exports);
void registerLinear(napi_env env, napi_value exports);
void registerFlash(napi_env env, napi_value exports);
void registerLmHead(napi_env env, napi_value exports);
