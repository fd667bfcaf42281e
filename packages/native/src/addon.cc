// The addon's entry: argument helpers, threads, sgemm over typed arrays (views of the tfjs wasm
// heap, so kernels read and write tensors in place), and what BLAS it was built against.
#include <cstring>
#include <vector>
#include <omp.h>

#include "common.h"

extern "C" {
// OpenBLAS extras, weak so another BLAS (Accelerate, MKL) links too.
void openblas_set_num_threads(int) __attribute__((weak));
int openblas_get_num_threads(void) __attribute__((weak));
int openblas_get_parallel(void) __attribute__((weak));
char* openblas_get_config(void) __attribute__((weak));
}

namespace sft {

static int gThreads = 1;
static int gBlasThreadsBefore = 0;

int threads() { return gThreads; }

void setThreads(int n) {
  gThreads = n < 1 ? 1 : n;
  if (openblas_set_num_threads) openblas_set_num_threads(gThreads);
}

// openblas_get_parallel: 0 sequential, 1 pthreads, 2 OpenMP (sequential inside our regions).
static bool blasUsesOwnThreads() { return openblas_get_parallel && openblas_get_parallel() == 1; }

void enterParallel() {
  if (blasUsesOwnThreads()) {
    gBlasThreadsBefore = openblas_get_num_threads();
    openblas_set_num_threads(1);
  }
}

void leaveParallel() {
  if (blasUsesOwnThreads()) openblas_set_num_threads(gBlasThreadsBefore);
}

void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
          float beta, float* C, int ldc) {
  cblas_sgemm(SftRowMajor, ta ? SftTrans : SftNoTrans, tb ? SftTrans : SftNoTrans, M, N, K, alpha, A, lda, B, ldb,
              beta, C, ldc);
}

void gemmSerial(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                float beta, float* C, int ldc) {
  gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// A typed array of one element type; a JS TypeError naming the argument otherwise.
static bool argTyped(napi_env env, napi_value v, napi_typedarray_type want, void** out, size_t* len,
                     const char* what, const char* kind) {
  napi_typedarray_type type;
  napi_value ab;
  size_t off = 0;
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (!is || napi_get_typedarray_info(env, v, &type, len, out, &ab, &off) != napi_ok || type != want) {
    napi_throw_type_error(env, nullptr, (std::string(what) + " must be a" + kind).c_str());
    return false;
  }
  return true;
}

bool argF32(napi_env env, napi_value v, float** out, size_t* len, const char* what) {
  return argTyped(env, v, napi_float32_array, reinterpret_cast<void**>(out), len, what, " Float32Array");
}

bool argI32Array(napi_env env, napi_value v, int32_t** out, size_t* len, const char* what) {
  return argTyped(env, v, napi_int32_array, reinterpret_cast<void**>(out), len, what, "n Int32Array");
}

bool argU8(napi_env env, napi_value v, uint8_t** out, size_t* len, const char* what) {
  return argTyped(env, v, napi_uint8_array, reinterpret_cast<void**>(out), len, what, " Uint8Array");
}

bool argU16(napi_env env, napi_value v, uint16_t** out, size_t* len, const char* what) {
  return argTyped(env, v, napi_uint16_array, reinterpret_cast<void**>(out), len, what, " Uint16Array");
}

bool argI8(napi_env env, napi_value v, int8_t** out, size_t* len, const char* what) {
  return argTyped(env, v, napi_int8_array, reinterpret_cast<void**>(out), len, what, "n Int8Array");
}

bool checkLength(napi_env env, size_t len, int64_t need, const char* what, const char* fn) {
  if (need < 0 || static_cast<int64_t>(len) < need) {
    rangeError(env, fn, std::string(what) + " has " + std::to_string(len) + " values, needs " + std::to_string(need));
    return false;
  }
  return true;
}

void rangeError(napi_env env, const char* fn, const std::string& message) {
  napi_throw_range_error(env, nullptr, (std::string(fn) + ": " + message).c_str());
}

float* scratch(size_t n, int slot) {
  constexpr int SLOTS = 4;
  thread_local std::vector<float> buffers[SLOTS];
  std::vector<float>& b = buffers[slot % SLOTS];
  if (b.size() < n) b.resize(n);
  return b.data();
}

bool argInt(napi_env env, napi_value v, int64_t* out, const char* what) {
  if (napi_get_value_int64(env, v, out) != napi_ok) {
    napi_throw_type_error(env, nullptr, (std::string(what) + " must be a number").c_str());
    return false;
  }
  return true;
}

bool argNum(napi_env env, napi_value v, double* out, const char* what) {
  if (napi_get_value_double(env, v, out) != napi_ok) {
    napi_throw_type_error(env, nullptr, (std::string(what) + " must be a number").c_str());
    return false;
  }
  return true;
}

bool argBool(napi_value v, napi_env env, bool* out, const char* what) {
  if (napi_get_value_bool(env, v, out) != napi_ok) {
    napi_throw_type_error(env, nullptr, (std::string(what) + " must be a boolean").c_str());
    return false;
  }
  return true;
}

bool isNullish(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_null || t == napi_undefined;
}

bool args(napi_env env, napi_callback_info info, size_t n, napi_value* out, const char* fn) {
  size_t argc = n;
  napi_get_cb_info(env, info, &argc, out, nullptr, nullptr);
  if (argc < n) {
    napi_throw_error(env, nullptr, (std::string(fn) + ": expected " + std::to_string(n) + " arguments").c_str());
    return false;
  }
  return true;
}

bool argsOptional(napi_env env, napi_callback_info info, size_t required, size_t total, napi_value* out,
                  const char* fn) {
  size_t argc = total;
  napi_get_cb_info(env, info, &argc, out, nullptr, nullptr);
  if (argc < required) {
    napi_throw_error(env, nullptr,
                     (std::string(fn) + ": expected at least " + std::to_string(required) + " arguments").c_str());
    return false;
  }
  return true;
}

void defineFunction(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  napi_set_named_property(env, exports, name, fn);
}

}  // namespace sft

using namespace sft;

// sgemm(a, b, c, M, N, K, transA, transB, batch, strideA, strideB, strideC):
// c[i] = op(a[i]) @ op(b[i]) for i < batch, row-major; a stride of 0 broadcasts that operand.
static napi_value Sgemm(napi_env env, napi_callback_info info) {
  napi_value a[12];
  if (!args(env, info, 12, a, "sgemm")) return nullptr;
  float *A, *B, *C;
  size_t la, lb, lc;
  int64_t M, N, K, batch, sa, sb, sc;
  bool ta, tb;
  if (!argF32(env, a[0], &A, &la, "a") || !argF32(env, a[1], &B, &lb, "b") || !argF32(env, a[2], &C, &lc, "c") ||
      !argInt(env, a[3], &M, "M") || !argInt(env, a[4], &N, "N") || !argInt(env, a[5], &K, "K") ||
      !argBool(a[6], env, &ta, "transA") || !argBool(a[7], env, &tb, "transB") ||
      !argInt(env, a[8], &batch, "batch") || !argInt(env, a[9], &sa, "strideA") ||
      !argInt(env, a[10], &sb, "strideB") || !argInt(env, a[11], &sc, "strideC"))
    return nullptr;
  const size_t needA = static_cast<size_t>((batch - 1) * sa + M * K);
  const size_t needB = static_cast<size_t>((batch - 1) * sb + K * N);
  const size_t needC = static_cast<size_t>((batch - 1) * sc + M * N);
  if (M < 0 || N < 0 || K < 0 || batch < 1 || la < needA || lb < needB || lc < needC) {
    napi_throw_range_error(env, nullptr, "sgemm: a shape or stride reaches past its array");
    return nullptr;
  }
  const int lda = ta ? M : K, ldb = tb ? K : N;
  // Many small products: one per thread, each single-threaded; few large ones: BLAS threads each.
  if (batch >= 2 * threads() && M * N * K < (1 << 22)) {
    parallelFor(batch, [&](int64_t i) {
      gemmSerial(ta, tb, M, N, K, 1.0f, A + i * sa, lda, B + i * sb, ldb, 0.0f, C + i * sc, N);
    });
  } else {
    for (int64_t i = 0; i < batch; i++)
      gemm(ta, tb, M, N, K, 1.0f, A + i * sa, lda, B + i * sb, ldb, 0.0f, C + i * sc, N);
  }
  return nullptr;
}

// sgemmEx(a, b, c, M, N, K, transA, transB, alpha, beta, lda, ldb, ldc): c = alpha op(a) op(b) + beta c.
static napi_value SgemmEx(napi_env env, napi_callback_info info) {
  const char* fn = "sgemmEx";
  napi_value a[13];
  if (!args(env, info, 13, a, fn)) return nullptr;
  float *A, *B, *C;
  size_t la, lb, lc;
  int64_t M, N, K, lda, ldb, ldc;
  bool ta, tb;
  double alpha, beta;
  if (!argF32(env, a[0], &A, &la, "a") || !argF32(env, a[1], &B, &lb, "b") || !argF32(env, a[2], &C, &lc, "c") ||
      !argInt(env, a[3], &M, "M") || !argInt(env, a[4], &N, "N") || !argInt(env, a[5], &K, "K") ||
      !argBool(a[6], env, &ta, "transA") || !argBool(a[7], env, &tb, "transB") ||
      !argNum(env, a[8], &alpha, "alpha") || !argNum(env, a[9], &beta, "beta") || !argInt(env, a[10], &lda, "lda") ||
      !argInt(env, a[11], &ldb, "ldb") || !argInt(env, a[12], &ldc, "ldc"))
    return nullptr;
  if (M < 1 || N < 1 || K < 1) {
    rangeError(env, fn, "M, N and K must be >= 1");
    return nullptr;
  }
  // Stored shapes: a is [M,K] or (transposed) [K,M]; b is [K,N] or [N,K]; c is [M,N].
  const int64_t aRows = ta ? K : M, aCols = ta ? M : K, bRows = tb ? N : K, bCols = tb ? K : N;
  if (lda < aCols) return rangeError(env, fn, "lda is below a's row length"), nullptr;
  if (ldb < bCols) return rangeError(env, fn, "ldb is below b's row length"), nullptr;
  if (ldc < N) return rangeError(env, fn, "ldc is below N"), nullptr;
  if (!checkLength(env, la, (aRows - 1) * lda + aCols, "a", fn) ||
      !checkLength(env, lb, (bRows - 1) * ldb + bCols, "b", fn) ||
      !checkLength(env, lc, (M - 1) * ldc + N, "c", fn))
    return nullptr;
  gemm(ta, tb, M, N, K, static_cast<float>(alpha), A, lda, B, ldb, static_cast<float>(beta), C, ldc);
  return nullptr;
}

static napi_value SetThreads(napi_env env, napi_callback_info info) {
  napi_value a[1];
  if (!args(env, info, 1, a, "setThreads")) return nullptr;
  int64_t n;
  if (!argInt(env, a[0], &n, "threads")) return nullptr;
  setThreads(static_cast<int>(n));
  return nullptr;
}

static napi_value Info(napi_env env, napi_callback_info) {
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_int32(env, threads(), &v);
  napi_set_named_property(env, out, "threads", v);
  napi_create_int32(env, openblas_get_parallel ? openblas_get_parallel() : -1, &v);
  napi_set_named_property(env, out, "blasParallel", v);
  const char* cfg = openblas_get_config ? openblas_get_config() : "unknown BLAS (not OpenBLAS)";
  napi_create_string_utf8(env, cfg, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "blasConfig", v);
  napi_create_int32(env, omp_get_max_threads(), &v);
  napi_set_named_property(env, out, "openmpMaxThreads", v);
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  defineFunction(env, exports, "sgemm", Sgemm);
  defineFunction(env, exports, "sgemmEx", SgemmEx);
  defineFunction(env, exports, "setThreads", SetThreads);
  defineFunction(env, exports, "info", Info);
  registerAttention(env, exports);
  registerFused(env, exports);
  registerOptim(env, exports);
  registerQuant(env, exports);
  registerStorage(env, exports);
  registerLinear(env, exports);
  registerFlash(env, exports);
  registerLmHead(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
