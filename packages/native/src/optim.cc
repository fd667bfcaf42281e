// Fused AdamW update: one pass over a parameter instead of a dozen element-wise tensor ops.
#include <cmath>
#include <string>
#include <vector>

#include "common.h"

using namespace sft;

// adamw(p, g, m, v, pOut, mOut, vOut, lr, beta1, beta2, eps, weightDecay, c1, c2):
// m' = b1 m + (1-b1) g; v' = b2 v + (1-b2) g^2; p' = p (1 - lr wd) - (lr / c1) m' / (sqrt(v'/c2) + eps).
static napi_value AdamW(napi_env env, napi_callback_info info) {
  napi_value a[14];
  if (!args(env, info, 14, a, "adamw")) return nullptr;
  float *p, *g, *m, *v, *po, *mo, *vo;
  size_t n, ng, nm, nv, npo, nmo, nvo;
  double lr, b1, b2, eps, wd, c1, c2;
  if (!argF32(env, a[0], &p, &n, "p") || !argF32(env, a[1], &g, &ng, "g") || !argF32(env, a[2], &m, &nm, "m") ||
      !argF32(env, a[3], &v, &nv, "v") || !argF32(env, a[4], &po, &npo, "pOut") ||
      !argF32(env, a[5], &mo, &nmo, "mOut") || !argF32(env, a[6], &vo, &nvo, "vOut") ||
      !argNum(env, a[7], &lr, "lr") || !argNum(env, a[8], &b1, "beta1") || !argNum(env, a[9], &b2, "beta2") ||
      !argNum(env, a[10], &eps, "eps") || !argNum(env, a[11], &wd, "weightDecay") ||
      !argNum(env, a[12], &c1, "c1") || !argNum(env, a[13], &c2, "c2"))
    return nullptr;
  if (ng != n || nm != n || nv != n || npo != n || nmo != n || nvo != n) {
    napi_throw_range_error(env, nullptr, "adamw: arrays differ in length");
    return nullptr;
  }
  const float fb1 = b1, fb2 = b2, decay = 1.0 - lr * wd, stepSize = lr / c1, invC2 = 1.0 / c2, feps = eps;
  const int64_t chunk = 1 << 16;
  const int64_t chunks = (static_cast<int64_t>(n) + chunk - 1) / chunk;
  parallelFor(chunks, [&](int64_t c) {
    const int64_t end = std::min<int64_t>(n, (c + 1) * chunk);
    for (int64_t i = c * chunk; i < end; i++) {
      const float gi = g[i];
      const float mi = fb1 * m[i] + (1.0f - fb1) * gi;
      const float vi = fb2 * v[i] + (1.0f - fb2) * gi * gi;
      mo[i] = mi;
      vo[i] = vi;
      po[i] = p[i] * decay - stepSize * mi / (std::sqrt(vi * invC2) + feps);
    }
  });
  return nullptr;
}

// adamwInPlace(p, g, m, v, lr, beta1, beta2, eps, weightDecay, c1, c2, gradScale): adamw's update
// on p, m, v in place, with g * gradScale as the gradient (global-norm clipping folded in).
static napi_value AdamWInPlace(napi_env env, napi_callback_info info) {
  const char* fn = "adamwInPlace";
  napi_value a[12];
  if (!args(env, info, 12, a, fn)) return nullptr;
  float *p, *g, *m, *v;
  size_t n, ng, nm, nv;
  double lr, b1, b2, eps, wd, c1, c2, gscale;
  if (!argF32(env, a[0], &p, &n, "p") || !argF32(env, a[1], &g, &ng, "g") || !argF32(env, a[2], &m, &nm, "m") ||
      !argF32(env, a[3], &v, &nv, "v") || !argNum(env, a[4], &lr, "lr") || !argNum(env, a[5], &b1, "beta1") ||
      !argNum(env, a[6], &b2, "beta2") || !argNum(env, a[7], &eps, "eps") || !argNum(env, a[8], &wd, "weightDecay") ||
      !argNum(env, a[9], &c1, "c1") || !argNum(env, a[10], &c2, "c2") || !argNum(env, a[11], &gscale, "gradScale"))
    return nullptr;
  if (ng != n || nm != n || nv != n) {
    rangeError(env, fn, "g, m and v must have p's length " + std::to_string(n));
    return nullptr;
  }
  const float fb1 = b1, fb2 = b2, decay = 1.0 - lr * wd, stepSize = lr / c1, invC2 = 1.0 / c2, feps = eps,
              gs = gscale;
  const int64_t chunk = 1 << 16;
  const int64_t chunks = (static_cast<int64_t>(n) + chunk - 1) / chunk;
  parallelFor(chunks, [&](int64_t c) {
    const int64_t end = std::min<int64_t>(n, (c + 1) * chunk);
#pragma omp simd
    for (int64_t i = c * chunk; i < end; i++) {
      const float gi = g[i] * gs;
      const float mi = fb1 * m[i] + (1.0f - fb1) * gi;
      const float vi = fb2 * v[i] + (1.0f - fb2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i] * decay - stepSize * mi / (std::sqrt(vi * invC2) + feps);
    }
  });
  return nullptr;
}

// sumSquares(x): sum of x[i]^2, float partial sums per chunk added in double.
static napi_value SumSquares(napi_env env, napi_callback_info info) {
  napi_value a[1];
  if (!args(env, info, 1, a, "sumSquares")) return nullptr;
  float* x;
  size_t n;
  if (!argF32(env, a[0], &x, &n, "x")) return nullptr;
  const int64_t chunk = 1 << 12;
  const int64_t chunks = (static_cast<int64_t>(n) + chunk - 1) / chunk;
  std::vector<double> parts(chunks);
  parallelFor(chunks, [&](int64_t c) {
    const int64_t end = std::min<int64_t>(n, (c + 1) * chunk);
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = c * chunk; i < end; i++) s += x[i] * x[i];
    parts[c] = s;
  });
  double total = 0.0;
  for (const double s : parts) total += s;
  napi_value out;
  napi_create_double(env, total, &out);
  return out;
}

void registerOptim(napi_env env, napi_value exports) {
  defineFunction(env, exports, "adamw", AdamW);
  defineFunction(env, exports, "adamwInPlace", AdamWInPlace);
  defineFunction(env, exports, "sumSquares", SumSquares);
}
