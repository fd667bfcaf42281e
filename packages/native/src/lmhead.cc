// Fused lm-head + softmax cross-entropy: logits for a chunk of trained rows at a time (never all
// [T, V]), the head converted from its storage dtype a tile of vocabulary rows at a time.
#include <omp.h>

#include <cmath>
#include <string>
#include <vector>

#include "storage.h"

using namespace sft;

namespace {

constexpr int32_t IGNORE = -100;
// Logits of one chunk: up to 2^23 values (32 MB), 16 to 256 rows.
constexpr int64_t LOGIT_VALUES = 1 << 23;
constexpr int64_t MAX_VOCAB_TILE = 256;

// Shared across one call's threads (the per-thread tiles live in scratch()).
std::vector<float> gHidden, gLogits, gPartial;
std::vector<int64_t> gRows;
std::vector<double> gLoss;

// A tile of vocabulary rows [v0, v0 + vr) of the head as float32, the trainable rows' values patched in.
const float* headTile(const Weight& w, const TokenRows* rows, int64_t d, int64_t v0, int64_t vr, int64_t* ld) {
  float* buf = scratch(vr * d, 0);
  const float* tile = loadTile(w, d, v0, vr, 0, d, buf, ld);
  if (!rows) return tile;
  bool copied = tile == buf;
  for (int64_t v = v0; v < v0 + vr; v++) {
    const int32_t k = rows->rowOf[v];
    if (k < 0) continue;
    if (!copied) {
      // A float32 head is read in place: copy the tile before patching it.
      for (int64_t r = 0; r < vr; r++) std::copy_n(tile + r * *ld, d, buf + r * d);
      *ld = d;
      copied = true;
    }
    std::copy_n(rows->data + k * d, d, buf + (v - v0) * d);
  }
  return copied ? buf : tile;
}

// lmHeadCrossEntropy(h, w, targets, dh, dW, T, V, d, gradScale, accumulate, rows?, softcap?) -> { loss, count }
// softcap > 0 replaces each logit z by softcap * tanh(z / softcap) (Gemma 2's final-logit soft-capping).
napi_value LmHeadCrossEntropy(napi_env env, napi_callback_info info) {
  const char* fn = "lmHeadCrossEntropy";
  napi_value a[12];
  if (!argsOptional(env, info, 10, 12, a, fn)) return nullptr;
  float *h, *dh = nullptr, *dW = nullptr;
  int32_t* targets;
  size_t lh, lt, ldh = 0, ldw = 0;
  int64_t T, V, d;
  double gradScale;
  bool accumulate;
  Weight w;
  if (!argInt(env, a[5], &T, "T") || !argInt(env, a[6], &V, "V") || !argInt(env, a[7], &d, "d") ||
      !argNum(env, a[8], &gradScale, "gradScale") || !argBool(a[9], env, &accumulate, "accumulate"))
    return nullptr;
  if (T < 1 || V < 1 || d < 1) return rangeError(env, fn, "T, V and d must be >= 1"), nullptr;
  double capArg = 0;
  if (!isNullish(env, a[11]) && !argNum(env, a[11], &capArg, "softcap")) return nullptr;
  if (capArg < 0) return rangeError(env, fn, "need softcap >= 0 (0: none)"), nullptr;
  const float cap = static_cast<float>(capArg), invCap = cap > 0 ? 1.f / cap : 0.f;
  if (!argF32(env, a[0], &h, &lh, "h") || !readWeight(env, a[1], V * d, "w", fn, &w) ||
      !argI32Array(env, a[2], &targets, &lt, "targets") ||
      (!isNullish(env, a[3]) && !argF32(env, a[3], &dh, &ldh, "dh")) ||
      (!isNullish(env, a[4]) && !argF32(env, a[4], &dW, &ldw, "dW")) || !checkLength(env, lh, T * d, "h", fn) ||
      !checkLength(env, lt, T, "targets", fn) || (dh && !checkLength(env, ldh, T * d, "dh", fn)) ||
      (dW && !checkLength(env, ldw, V * d, "dW", fn)))
    return nullptr;
  TokenRows tokenRows;
  bool hasRows;
  if (!readTokenRows(env, a[10], V, d, fn, &tokenRows, &hasRows)) return nullptr;
  const TokenRows* rows = hasRows ? &tokenRows : nullptr;
  float* rowGrad = rows ? rows->grad : nullptr;
  gRows.clear();
  for (int64_t t = 0; t < T; t++) {
    const int32_t y = targets[t];
    if (y == IGNORE) continue;
    if (y < 0 || y >= V)
      return rangeError(env, fn,
                        "targets[" + std::to_string(t) + "] = " + std::to_string(y) + " is outside [0, " +
                            std::to_string(V) + ") and not -100"),
             nullptr;
    gRows.push_back(t);
  }
  if (dh && !accumulate) std::fill(dh, dh + T * d, 0.f);
  const bool grad = dh || dW || rowGrad;
  const int64_t trained = static_cast<int64_t>(gRows.size());
  const int64_t chunk = std::min<int64_t>(std::max<int64_t>(1, trained), std::clamp<int64_t>(LOGIT_VALUES / V, 16, 256));
  const int nt = threads();
  const int64_t perThread = (V + nt - 1) / nt;
  const int64_t vt = std::min<int64_t>(V, std::max<int64_t>(16, std::min(MAX_VOCAB_TILE, perThread)));
  const int64_t vTiles = (V + vt - 1) / vt;
  gHidden.resize(chunk * d);
  gLogits.resize(chunk * V);
  gLoss.assign(trained, 0.0);
  if (dh) gPartial.resize(static_cast<size_t>(nt) * chunk * d);
  const float gs = static_cast<float>(gradScale);

  for (int64_t c0 = 0; c0 < trained; c0 += chunk) {
    const int64_t tc = std::min(chunk, trained - c0);
    float* hc = gHidden.data();
    float* logits = gLogits.data();
    for (int64_t r = 0; r < tc; r++) std::copy_n(h + gRows[c0 + r] * d, d, hc + r * d);
    // logits[tc, V] = hc @ W^T, a tile of vocabulary rows per task.
    parallelFor(vTiles, [&](int64_t i) {
      const int64_t v0 = i * vt, vr = std::min(V - v0, vt);
      int64_t ld;
      const float* tile = headTile(w, rows, d, v0, vr, &ld);
      gemmSerial(false, true, tc, vr, d, 1.f, hc, d, tile, ld, 0.f, logits + v0, V);
    });
    // Loss per row; with a gradient, the row becomes gradScale * (softmax - onehot).
    parallelFor(tc, [&](int64_t r) {
      float* z = logits + r * V;
      const int32_t y = targets[gRows[c0 + r]];
      if (cap > 0)
        for (int64_t j = 0; j < V; j++) z[j] = cap * std::tanh(z[j] * invCap);
      float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
      for (int64_t j = 0; j < V; j++) mx = std::max(mx, z[j]);
      double sum = 0.0;
      float part = 0.f;
      // Float partial sums over 1024 values, added in double.
      for (int64_t j0 = 0; j0 < V; j0 += 1024) {
        const int64_t j1 = std::min(V, j0 + 1024);
        part = 0.f;
#pragma omp simd reduction(+ : part)
        for (int64_t j = j0; j < j1; j++) part += fastExp(z[j] - mx);
        sum += part;
      }
      const double lse = mx + std::log(sum);
      gLoss[c0 + r] = lse - z[y];
      if (!grad) return;
      const float lseF = static_cast<float>(lse);
      if (cap > 0) {
        // Through the cap: d(c tanh(z / c))/dz = 1 - tanh^2.
        for (int64_t j = 0; j < V; j++) {
          const float t = z[j] * invCap;
          z[j] = (fastExp(z[j] - lseF) * gs - (j == y ? gs : 0.f)) * (1.f - t * t);
        }
        return;
      }
#pragma omp simd
      for (int64_t j = 0; j < V; j++) z[j] = fastExp(z[j] - lseF) * gs;
      z[y] -= gs;
    });
    if (!grad) continue;
    float* partial = gPartial.data();
    if (dh) std::fill(partial, partial + static_cast<size_t>(nt) * tc * d, 0.f);
    // dh_chunk = dlogits @ W (each thread sums its tiles into its own partial); dW[tile] += dlogits^T hc.
    parallelFor(vTiles, [&](int64_t i) {
      const int64_t v0 = i * vt, vr = std::min(V - v0, vt);
      int64_t ld;
      const float* tile = dh ? headTile(w, rows, d, v0, vr, &ld) : nullptr;
      if (dh)
        gemmSerial(false, false, tc, d, vr, 1.f, logits + v0, V, tile, ld, 1.f,
                   partial + static_cast<int64_t>(omp_get_thread_num()) * tc * d, d);
      if (dW) gemmSerial(true, false, vr, d, tc, 1.f, logits + v0, V, hc, d, 1.f, dW + v0 * d, d);
      // A trainable row's gradient: its logit column's gradients times the chunk's hidden rows.
      if (rowGrad)
        for (int64_t v = v0; v < v0 + vr; v++) {
          const int32_t k = rows->rowOf[v];
          if (k < 0) continue;
          float* g = rowGrad + k * d;
          for (int64_t r = 0; r < tc; r++) {
            const float s = logits[r * V + v];
            const float* x = hc + r * d;
#pragma omp simd
            for (int64_t j = 0; j < d; j++) g[j] += s * x[j];
          }
        }
    });
    if (dh) {
      parallelFor(tc, [&](int64_t r) {
        float* o = dh + gRows[c0 + r] * d;
        for (int p = 0; p < nt; p++) {
          const float* s = partial + (static_cast<int64_t>(p) * tc + r) * d;
#pragma omp simd
          for (int64_t j = 0; j < d; j++) o[j] += s[j];
        }
      });
    }
  }
  double loss = 0.0;
  for (const double l : gLoss) loss += l;
  napi_value result, lv, cv;
  napi_create_object(env, &result);
  napi_create_double(env, loss, &lv);
  napi_create_int64(env, trained, &cv);
  napi_set_named_property(env, result, "loss", lv);
  napi_set_named_property(env, result, "count", cv);
  return result;
}

}  // namespace

void registerLmHead(napi_env env, napi_value exports) {
  defineFunction(env, exports, "lmHeadCrossEntropy", LmHeadCrossEntropy);
}
