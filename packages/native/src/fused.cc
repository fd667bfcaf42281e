// Fused element-wise training kernels: RMSNorm, SwiGLU, RoPE (rotate-half), softmax cross-entropy.
// Rows go to threads through parallelFor; the inner loops are `omp simd` loops that g++ -O3
// -march=native turns into AVX2/FMA code (the reductions too: `omp simd reduction` lets it
// reassociate the sums, as -ffast-math would, for these loops alone).
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"

using sft::fastExp;

namespace {

inline __attribute__((always_inline)) float sigmoid(float x) { return 1.0f / (1.0f + fastExp(-x)); }

bool need(napi_env env, size_t have, int64_t want, const char* fn, const char* what) {
  if (want < 0 || have < static_cast<size_t>(want)) {
    napi_throw_range_error(
        env, nullptr,
        (std::string(fn) + ": " + what + " holds " + std::to_string(have) + " values, needs " + std::to_string(want))
            .c_str());
    return false;
  }
  return true;
}

bool positive(napi_env env, int64_t v, int64_t min, const char* fn, const char* what) {
  if (v < min) {
    napi_throw_range_error(env, nullptr, (std::string(fn) + ": " + what + " must be at least " + std::to_string(min)).c_str());
    return false;
  }
  return true;
}

// Element-wise loops go to threads in blocks of this many values (a multiple of any vector width).
constexpr int64_t kBlock = 16384;

template <typename F>
void blocks(int64_t n, F fn) {
  const int64_t nb = (n + kBlock - 1) / kBlock;
  sft::parallelFor(nb, [&](int64_t b) {
    const int64_t s = b * kBlock;
    fn(s, n - s < kBlock ? n - s : kBlock);
  });
}

}  // namespace

using namespace sft;

// rmsNormForward(x, w, y, rstd, rows, dim, eps): y = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps).
static napi_value RmsNormForward(napi_env env, napi_callback_info info) {
  napi_value a[7];
  if (!args(env, info, 7, a, "rmsNormForward")) return nullptr;
  float *x, *w, *y, *rstd;
  size_t lx, lw, ly, lr;
  int64_t rows, dim;
  double eps;
  if (!argF32(env, a[0], &x, &lx, "x") || !argF32(env, a[1], &w, &lw, "w") || !argF32(env, a[2], &y, &ly, "y") ||
      !argF32(env, a[3], &rstd, &lr, "rstd") || !argInt(env, a[4], &rows, "rows") || !argInt(env, a[5], &dim, "dim") ||
      !argNum(env, a[6], &eps, "eps"))
    return nullptr;
  const char* fn = "rmsNormForward";
  if (!positive(env, rows, 0, fn, "rows") || !positive(env, dim, 0, fn, "dim") ||
      !need(env, lx, rows * dim, fn, "x") || !need(env, lw, dim, fn, "w") || !need(env, ly, rows * dim, fn, "y") ||
      !need(env, lr, rows, fn, "rstd"))
    return nullptr;
  const float e = static_cast<float>(eps);
  parallelFor(rows, [&](int64_t i) {
    const float* xr = x + i * dim;
    float* yr = y + i * dim;
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int64_t j = 0; j < dim; j++) ss += xr[j] * xr[j];
    const float r = 1.0f / std::sqrt(ss / static_cast<float>(dim) + e);
    rstd[i] = r;
#pragma omp simd
    for (int64_t j = 0; j < dim; j++) yr[j] = xr[j] * r * w[j];
  });
  return nullptr;
}

// rmsNormBackward(dy, x, w, rstd, dx, dw | null, rows, dim). With y = x r w, r = (mean(x^2)+eps)^-1/2:
// dr/dx_j = -r^3 x_j / dim, so dx = r (w dy) - x r^3 mean(w dy x); dw = sum over rows of dy x r,
// summed per block of rows and then over the blocks in order (the same result for any thread count).
static napi_value RmsNormBackward(napi_env env, napi_callback_info info) {
  napi_value a[8];
  if (!args(env, info, 8, a, "rmsNormBackward")) return nullptr;
  float *dy, *x, *w, *rstd, *dx, *dw = nullptr;
  size_t ldy, lx, lw, lr, ldx, ldw = 0;
  int64_t rows, dim;
  if (!argF32(env, a[0], &dy, &ldy, "dy") || !argF32(env, a[1], &x, &lx, "x") || !argF32(env, a[2], &w, &lw, "w") ||
      !argF32(env, a[3], &rstd, &lr, "rstd") || !argF32(env, a[4], &dx, &ldx, "dx") ||
      (!isNullish(env, a[5]) && !argF32(env, a[5], &dw, &ldw, "dw")) || !argInt(env, a[6], &rows, "rows") ||
      !argInt(env, a[7], &dim, "dim"))
    return nullptr;
  const char* fn = "rmsNormBackward";
  if (!positive(env, rows, 0, fn, "rows") || !positive(env, dim, 0, fn, "dim") ||
      !need(env, ldy, rows * dim, fn, "dy") || !need(env, lx, rows * dim, fn, "x") || !need(env, lw, dim, fn, "w") ||
      !need(env, lr, rows, fn, "rstd") || !need(env, ldx, rows * dim, fn, "dx") ||
      (dw && !need(env, ldw, dim, fn, "dw")))
    return nullptr;
  const int64_t nb = rows < 64 ? rows : 64;
  std::vector<float> partial(dw ? static_cast<size_t>(nb * dim) : 0, 0.0f);
  const float invDim = 1.0f / static_cast<float>(dim);
  parallelFor(nb, [&](int64_t b) {
    const int64_t r0 = rows * b / nb, r1 = rows * (b + 1) / nb;
    float* pw = dw ? partial.data() + b * dim : nullptr;
    for (int64_t i = r0; i < r1; i++) {
      const float* dyr = dy + i * dim;
      const float* xr = x + i * dim;
      float* dxr = dx + i * dim;
      const float r = rstd[i];
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < dim; j++) s += w[j] * dyr[j] * xr[j];
      const float c = r * r * r * s * invDim;
#pragma omp simd
      for (int64_t j = 0; j < dim; j++) dxr[j] = r * w[j] * dyr[j] - xr[j] * c;
      if (pw) {
#pragma omp simd
        for (int64_t j = 0; j < dim; j++) pw[j] += dyr[j] * xr[j] * r;
      }
    }
  });
  if (dw) {
    std::memset(dw, 0, static_cast<size_t>(dim) * sizeof(float));
    blocks(dim, [&](int64_t s, int64_t len) {
      for (int64_t b = 0; b < nb; b++) {
        const float* p = partial.data() + b * dim + s;
        float* d = dw + s;
#pragma omp simd
        for (int64_t j = 0; j < len; j++) d[j] += p[j];
      }
    });
  }
  return nullptr;
}

// swigluForward(g, u, y, n): y = silu(g) * u = g * sigmoid(g) * u.
static napi_value SwigluForward(napi_env env, napi_callback_info info) {
  napi_value a[4];
  if (!args(env, info, 4, a, "swigluForward")) return nullptr;
  float *g, *u, *y;
  size_t lg, lu, ly;
  int64_t n;
  if (!argF32(env, a[0], &g, &lg, "g") || !argF32(env, a[1], &u, &lu, "u") || !argF32(env, a[2], &y, &ly, "y") ||
      !argInt(env, a[3], &n, "n"))
    return nullptr;
  const char* fn = "swigluForward";
  if (!need(env, lg, n, fn, "g") || !need(env, lu, n, fn, "u") || !need(env, ly, n, fn, "y")) return nullptr;
  blocks(n, [&](int64_t s, int64_t len) {
    const float* gs = g + s;
    const float* us = u + s;
    float* ys = y + s;
#pragma omp simd
    for (int64_t j = 0; j < len; j++) ys[j] = gs[j] * sigmoid(gs[j]) * us[j];
  });
  return nullptr;
}

// swigluBackward(dy, g, u, dg, du, n): with s = sigmoid(g), d silu/dg = s (1 + g (1 - s)):
// dg = dy u s (1 + g (1 - s)), du = dy g s.
static napi_value SwigluBackward(napi_env env, napi_callback_info info) {
  napi_value a[6];
  if (!args(env, info, 6, a, "swigluBackward")) return nullptr;
  float *dy, *g, *u, *dg, *du;
  size_t ldy, lg, lu, ldg, ldu;
  int64_t n;
  if (!argF32(env, a[0], &dy, &ldy, "dy") || !argF32(env, a[1], &g, &lg, "g") || !argF32(env, a[2], &u, &lu, "u") ||
      !argF32(env, a[3], &dg, &ldg, "dg") || !argF32(env, a[4], &du, &ldu, "du") || !argInt(env, a[5], &n, "n"))
    return nullptr;
  const char* fn = "swigluBackward";
  if (!need(env, ldy, n, fn, "dy") || !need(env, lg, n, fn, "g") || !need(env, lu, n, fn, "u") ||
      !need(env, ldg, n, fn, "dg") || !need(env, ldu, n, fn, "du"))
    return nullptr;
  blocks(n, [&](int64_t s, int64_t len) {
    const float *dys = dy + s, *gs = g + s, *us = u + s;
    float *dgs = dg + s, *dus = du + s;
#pragma omp simd
    for (int64_t j = 0; j < len; j++) {
      const float gv = gs[j], d = dys[j];
      const float sg = sigmoid(gv);
      const float uv = us[j];
      dgs[j] = d * uv * sg * (1.0f + gv * (1.0f - sg));
      dus[j] = d * gv * sg;
    }
  });
  return nullptr;
}

// GeGLU with the tanh GELU (Gemma; transformers' gelu_pytorch_tanh): with th = tanh(c (g + 0.044715 g^3)),
// c = sqrt(2 / pi): gelu(g) = g (1 + th) / 2.
static inline float geluTanhParts(float g, float* dgelu) {
  const float c = 0.7978845608028654f, k = 0.044715f;
  const float th = std::tanh(c * (g + k * g * g * g));
  *dgelu = 0.5f * (1.0f + th) + 0.5f * g * (1.0f - th * th) * c * (1.0f + 3.0f * k * g * g);
  return 0.5f * g * (1.0f + th);
}

// gegluForward(g, u, y, n): y = gelu_tanh(g) * u.
static napi_value GegluForward(napi_env env, napi_callback_info info) {
  napi_value a[4];
  if (!args(env, info, 4, a, "gegluForward")) return nullptr;
  float *g, *u, *y;
  size_t lg, lu, ly;
  int64_t n;
  if (!argF32(env, a[0], &g, &lg, "g") || !argF32(env, a[1], &u, &lu, "u") || !argF32(env, a[2], &y, &ly, "y") ||
      !argInt(env, a[3], &n, "n"))
    return nullptr;
  const char* fn = "gegluForward";
  if (!need(env, lg, n, fn, "g") || !need(env, lu, n, fn, "u") || !need(env, ly, n, fn, "y")) return nullptr;
  blocks(n, [&](int64_t s, int64_t len) {
    float unused;
    for (int64_t j = s; j < s + len; j++) y[j] = geluTanhParts(g[j], &unused) * u[j];
  });
  return nullptr;
}

// gegluBackward(dy, g, u, dg, du, n): dg = dy u gelu'(g), du = dy gelu(g).
static napi_value GegluBackward(napi_env env, napi_callback_info info) {
  napi_value a[6];
  if (!args(env, info, 6, a, "gegluBackward")) return nullptr;
  float *dy, *g, *u, *dg, *du;
  size_t ldy, lg, lu, ldg, ldu;
  int64_t n;
  if (!argF32(env, a[0], &dy, &ldy, "dy") || !argF32(env, a[1], &g, &lg, "g") || !argF32(env, a[2], &u, &lu, "u") ||
      !argF32(env, a[3], &dg, &ldg, "dg") || !argF32(env, a[4], &du, &ldu, "du") || !argInt(env, a[5], &n, "n"))
    return nullptr;
  const char* fn = "gegluBackward";
  if (!need(env, ldy, n, fn, "dy") || !need(env, lg, n, fn, "g") || !need(env, lu, n, fn, "u") ||
      !need(env, ldg, n, fn, "dg") || !need(env, ldu, n, fn, "du"))
    return nullptr;
  blocks(n, [&](int64_t s, int64_t len) {
    for (int64_t j = s; j < s + len; j++) {
      float dgelu;
      const float gelu = geluTanhParts(g[j], &dgelu);
      dg[j] = dy[j] * u[j] * dgelu;
      du[j] = dy[j] * gelu;
    }
  });
  return nullptr;
}

// rope(x, cos, sin, y, T, heads, hd, inverse): per head, with h = hd/2, x1 = x[:h], x2 = x[h:],
// forward y = x*cos + rotate_half(x)*sin = [x1 c1 - x2 s1, x2 c2 + x1 s2]; inverse applies the
// transposed map (the gradient): dx = [dy1 c1 + dy2 s2, dy2 c2 - dy1 s1], the rotation by -theta
// when the halves of cos/sin are equal (as ropeTables makes them). y may be x (in place).
static napi_value Rope(napi_env env, napi_callback_info info) {
  napi_value a[8];
  if (!args(env, info, 8, a, "rope")) return nullptr;
  float *x, *cs, *sn, *y;
  size_t lx, lc, ls, ly;
  int64_t T, heads, hd;
  bool inverse;
  if (!argF32(env, a[0], &x, &lx, "x") || !argF32(env, a[1], &cs, &lc, "cos") ||
      !argF32(env, a[2], &sn, &ls, "sin") || !argF32(env, a[3], &y, &ly, "y") || !argInt(env, a[4], &T, "T") ||
      !argInt(env, a[5], &heads, "heads") || !argInt(env, a[6], &hd, "hd") || !argBool(a[7], env, &inverse, "inverse"))
    return nullptr;
  const char* fn = "rope";
  if (hd <= 0 || hd % 2 != 0) {
    napi_throw_range_error(env, nullptr, "rope: hd must be a positive even number");
    return nullptr;
  }
  if (!positive(env, T, 0, fn, "T") || !positive(env, heads, 0, fn, "heads") ||
      !need(env, lx, T * heads * hd, fn, "x") || !need(env, ly, T * heads * hd, fn, "y") ||
      !need(env, lc, T * hd, fn, "cos") || !need(env, ls, T * hd, fn, "sin"))
    return nullptr;
  const int64_t h = hd / 2;
  parallelFor(T, [&](int64_t t) {
    const float* c1 = cs + t * hd;
    const float* c2 = c1 + h;
    const float* s1 = sn + t * hd;
    const float* s2 = s1 + h;
    for (int64_t k = 0; k < heads; k++) {
      const float* x1 = x + (t * heads + k) * hd;
      const float* x2 = x1 + h;
      float* y1 = y + (t * heads + k) * hd;
      float* y2 = y1 + h;
      if (!inverse) {
#pragma omp simd
        for (int64_t i = 0; i < h; i++) {
          const float a1 = x1[i], a2 = x2[i];
          y1[i] = a1 * c1[i] - a2 * s1[i];
          y2[i] = a2 * c2[i] + a1 * s2[i];
        }
      } else {
#pragma omp simd
        for (int64_t i = 0; i < h; i++) {
          const float a1 = x1[i], a2 = x2[i];
          y1[i] = a1 * c1[i] + a2 * s2[i];
          y2[i] = a2 * c2[i] - a1 * s1[i];
        }
      }
    }
  });
  return nullptr;
}

// crossEntropy(logits, targets, rows, V, grad, out?): returns the summed loss over the rows
// (log-sum-exp minus the target's logit, summed in double in row order). With grad, writes
// softmax - onehot(target) into out when given (logits untouched), else over logits in place.
static napi_value CrossEntropy(napi_env env, napi_callback_info info) {
  napi_value a[6];
  size_t argc = 6;
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc < 5) {
    napi_throw_error(env, nullptr, "crossEntropy: expected 5 or 6 arguments");
    return nullptr;
  }
  float *logits, *out = nullptr;
  int32_t* targets;
  size_t ll, lt, lo = 0;
  int64_t rows, V;
  bool grad;
  if (!argF32(env, a[0], &logits, &ll, "logits") || !argI32Array(env, a[1], &targets, &lt, "targets") ||
      !argInt(env, a[2], &rows, "rows") || !argInt(env, a[3], &V, "V") || !argBool(a[4], env, &grad, "grad") ||
      (argc > 5 && !isNullish(env, a[5]) && !argF32(env, a[5], &out, &lo, "out")))
    return nullptr;
  const char* fn = "crossEntropy";
  if (!positive(env, rows, 0, fn, "rows") || !positive(env, V, 1, fn, "V") || !need(env, ll, rows * V, fn, "logits") ||
      !need(env, lt, rows, fn, "targets") || (out && !need(env, lo, rows * V, fn, "out")))
    return nullptr;
  for (int64_t i = 0; i < rows; i++) {
    if (targets[i] < 0 || targets[i] >= V) {
      napi_throw_range_error(env, nullptr,
                             ("crossEntropy: target " + std::to_string(targets[i]) + " of row " + std::to_string(i) +
                              " is outside [0, " + std::to_string(V) + ")")
                                 .c_str());
      return nullptr;
    }
  }
  if (!out) out = logits;
  std::vector<double> rowLoss(static_cast<size_t>(rows));
  parallelFor(rows, [&](int64_t i) {
    const float* l = logits + i * V;
    float* o = out + i * V;
    const int32_t t = targets[i];
    const float picked = l[t];
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < V; j++) m = l[j] > m ? l[j] : m;
    float z = 0.0f;
    if (grad) {
#pragma omp simd reduction(+ : z)
      for (int64_t j = 0; j < V; j++) {
        const float e = fastExp(l[j] - m);
        o[j] = e;
        z += e;
      }
      const float inv = 1.0f / z;
#pragma omp simd
      for (int64_t j = 0; j < V; j++) o[j] *= inv;
      o[t] -= 1.0f;
    } else {
#pragma omp simd reduction(+ : z)
      for (int64_t j = 0; j < V; j++) z += fastExp(l[j] - m);
    }
    rowLoss[static_cast<size_t>(i)] =
        static_cast<double>(m) + std::log(static_cast<double>(z)) - static_cast<double>(picked);
  });
  double total = 0.0;
  for (double v : rowLoss) total += v;
  napi_value result;
  napi_create_double(env, total, &result);
  return result;
}

void registerFused(napi_env env, napi_value exports) {
  defineFunction(env, exports, "rmsNormForward", RmsNormForward);
  defineFunction(env, exports, "rmsNormBackward", RmsNormBackward);
  defineFunction(env, exports, "swigluForward", SwigluForward);
  defineFunction(env, exports, "swigluBackward", SwigluBackward);
  defineFunction(env, exports, "gegluForward", GegluForward);
  defineFunction(env, exports, "gegluBackward", GegluBackward);
  defineFunction(env, exports, "rope", Rope);
  defineFunction(env, exports, "crossEntropy", CrossEntropy);
}
