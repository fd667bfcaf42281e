// Linear layers on a weight in its storage dtype: the weight is converted to float32 a tile at a
// time into per-thread scratch, and each thread multiplies its tile (its own slice of the output,
// so nothing races). A float32 weight goes straight to BLAS.
#include <string>

#include "storage.h"

using namespace sft;

namespace {

constexpr int64_t MAX_TILE = 256;
// A column tile of the backward holds N * cols values: kept under ~8 MB per thread.
constexpr int64_t MAX_TILE_VALUES = 1 << 21;

// Rows (or columns) per tile: up to MAX_TILE, a multiple of 16, and enough tiles for every thread.
int64_t tileSize(int64_t n, int64_t cap) {
  const int64_t perThread = (n + threads() - 1) / threads();
  int64_t t = std::min({MAX_TILE, cap, perThread});
  t = std::max<int64_t>(16, (t + 15) / 16 * 16);
  return std::min(t, n);
}

struct Dims {
  int64_t T, N, K;
  bool accumulate;
};

bool readDims(napi_env env, napi_value* a, Dims* d, const char* fn) {
  if (!argInt(env, a[0], &d->T, "T") || !argInt(env, a[1], &d->N, "N") || !argInt(env, a[2], &d->K, "K") ||
      !argBool(a[3], env, &d->accumulate, "accumulate"))
    return false;
  if (d->T < 1 || d->N < 1 || d->K < 1) {
    rangeError(env, fn, "T, N and K must be >= 1");
    return false;
  }
  return true;
}

// linearForward(x, w, y, T, N, K, accumulate): y[T,N] (+)= x[T,K] @ W[N,K]^T.
napi_value LinearForward(napi_env env, napi_callback_info info) {
  const char* fn = "linearForward";
  napi_value a[7];
  if (!args(env, info, 7, a, fn)) return nullptr;
  float *x, *y;
  size_t lx, ly;
  Dims d;
  Weight w;
  if (!readDims(env, a + 3, &d, fn) || !argF32(env, a[0], &x, &lx, "x") ||
      !readWeight(env, a[1], d.N * d.K, "w", fn, &w) || !argF32(env, a[2], &y, &ly, "y") ||
      !checkLength(env, lx, d.T * d.K, "x", fn) || !checkLength(env, ly, d.T * d.N, "y", fn))
    return nullptr;
  const float beta = d.accumulate ? 1.f : 0.f;
  if (w.dtype == Dtype::F32) {
    gemm(false, true, d.T, d.N, d.K, 1.f, x, d.K, w.f32, d.K, beta, y, d.N);
    return nullptr;
  }
  const int64_t rows = tileSize(d.N, MAX_TILE);
  parallelFor((d.N + rows - 1) / rows, [&](int64_t i) {
    const int64_t n0 = i * rows, nr = std::min(d.N - n0, rows);
    int64_t ld;
    const float* tile = loadTile(w, d.K, n0, nr, 0, d.K, scratch(nr * d.K, 0), &ld);
    gemmSerial(false, true, d.T, nr, d.K, 1.f, x, d.K, tile, ld, beta, y + n0, d.N);
  });
  return nullptr;
}

// linearBackwardInput(dy, w, dx, T, N, K, accumulate): dx[T,K] (+)= dy[T,N] @ W[N,K].
napi_value LinearBackwardInput(napi_env env, napi_callback_info info) {
  const char* fn = "linearBackwardInput";
  napi_value a[7];
  if (!args(env, info, 7, a, fn)) return nullptr;
  float *dy, *dx;
  size_t ly, lx;
  Dims d;
  Weight w;
  if (!readDims(env, a + 3, &d, fn) || !argF32(env, a[0], &dy, &ly, "dy") ||
      !readWeight(env, a[1], d.N * d.K, "w", fn, &w) || !argF32(env, a[2], &dx, &lx, "dx") ||
      !checkLength(env, ly, d.T * d.N, "dy", fn) || !checkLength(env, lx, d.T * d.K, "dx", fn))
    return nullptr;
  const float beta = d.accumulate ? 1.f : 0.f;
  if (w.dtype == Dtype::F32) {
    gemm(false, false, d.T, d.K, d.N, 1.f, dy, d.N, w.f32, d.K, beta, dx, d.K);
    return nullptr;
  }
  // Column tiles: each thread owns dx[:, k0:k0+cols], so the sum over N stays in one gemm.
  const int64_t cols = tileSize(d.K, std::max<int64_t>(16, MAX_TILE_VALUES / d.N));
  parallelFor((d.K + cols - 1) / cols, [&](int64_t i) {
    const int64_t k0 = i * cols, kc = std::min(d.K - k0, cols);
    int64_t ld;
    const float* tile = loadTile(w, d.K, 0, d.N, k0, kc, scratch(d.N * kc, 0), &ld);
    gemmSerial(false, false, d.T, kc, d.N, 1.f, dy, d.N, tile, ld, beta, dx + k0, d.K);
  });
  return nullptr;
}

// linearBackwardWeight(dy, x, dW, T, N, K, accumulate): dW[N,K] (+)= dy[T,N]^T @ x[T,K].
napi_value LinearBackwardWeight(napi_env env, napi_callback_info info) {
  const char* fn = "linearBackwardWeight";
  napi_value a[7];
  if (!args(env, info, 7, a, fn)) return nullptr;
  float *dy, *x, *dw;
  size_t ly, lx, lw;
  Dims d;
  if (!readDims(env, a + 3, &d, fn) || !argF32(env, a[0], &dy, &ly, "dy") || !argF32(env, a[1], &x, &lx, "x") ||
      !argF32(env, a[2], &dw, &lw, "dW") || !checkLength(env, ly, d.T * d.N, "dy", fn) ||
      !checkLength(env, lx, d.T * d.K, "x", fn) || !checkLength(env, lw, d.N * d.K, "dW", fn))
    return nullptr;
  gemm(true, false, d.N, d.K, d.T, 1.f, dy, d.N, x, d.K, d.accumulate ? 1.f : 0.f, dw, d.K);
  return nullptr;
}

}  // namespace

void registerLinear(napi_env env, napi_value exports) {
  defineFunction(env, exports, "linearForward", LinearForward);
  defineFunction(env, exports, "linearBackwardInput", LinearBackwardInput);
  defineFunction(env, exports, "linearBackwardWeight", LinearBackwardWeight);
}
