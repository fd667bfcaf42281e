// Fused causal attention (forward and backward) over [tokens, heads * headDim] layouts.
//
// q [B*S, H*hd]; k, v [B*K, KV*hd]; query head h reads kv head h / (H / KV). Every product is a
// strided sgemm straight on those layouts (leading dimension H*hd or KV*hd), so nothing is
// transposed or copied. Rows are processed in blocks of ROWS queries, and a block only touches
// the keys some row of it can see (its "extent"): with the plain causal mask that skips the upper
// triangle, with an explicit mask the trailing columns it masks out entirely.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common.h"

using namespace sft;

namespace {

// Query rows per block (measured at S=256, hd=32: 16 and 64 within 5%, 128 and up slower).
constexpr int64_t ROWS = 32;
// A mask entry this far below its row's largest entry contributes exp(-1e5 + score range) = 0 to
// the softmax (for any sane score range), so columns masked like that are skipped exactly.
constexpr float NEGLIGIBLE = 1e5f;

struct Dims {
  int64_t B, S, K, H, KV, hd;
  int64_t P() const { return K - S; }
  int64_t G() const { return H / KV; }
  int64_t blocks() const { return (S + ROWS - 1) / ROWS; }
};

bool readDims(napi_env env, napi_value* a, Dims* d, double* scale, const char* fn) {
  if (!argInt(env, a[0], &d->B, "B") || !argInt(env, a[1], &d->S, "S") || !argInt(env, a[2], &d->K, "K") ||
      !argInt(env, a[3], &d->H, "H") || !argInt(env, a[4], &d->KV, "KV") || !argInt(env, a[5], &d->hd, "hd") ||
      !argNum(env, a[6], scale, "scale"))
    return false;
  if (d->B < 1 || d->S < 1 || d->K < d->S || d->H < 1 || d->KV < 1 || d->hd < 1 || d->H % d->KV != 0) {
    napi_throw_range_error(env, nullptr,
                           (std::string(fn) + ": need B, S, H, KV, hd >= 1, K >= S and H a multiple of KV").c_str());
    return false;
  }
  return true;
}

bool checkLen(napi_env env, size_t len, int64_t need, const char* what, const char* fn) {
  if (static_cast<int64_t>(len) < need) {
    napi_throw_range_error(
        env, nullptr,
        (std::string(fn) + ": " + what + " has " + std::to_string(len) + " values, needs " + std::to_string(need))
            .c_str());
    return false;
  }
  return true;
}

// Keys [0, extent) that rows [r0, r1) of batch row b can see.
void forwardExtents(const Dims& d, const float* mask, std::vector<int64_t>& ext) {
  const int64_t nb = d.blocks();
  ext.assign(d.B * nb, d.K);
  if (!mask) {
    for (int64_t b = 0; b < d.B; b++)
      for (int64_t blk = 0; blk < nb; blk++) ext[b * nb + blk] = d.P() + std::min(d.S, (blk + 1) * ROWS);
    return;
  }
  parallelFor(d.B * nb, [&](int64_t i) {
    const int64_t b = i / nb, r0 = (i % nb) * ROWS, r1 = std::min(d.S, r0 + ROWS);
    int64_t e = 0;
    for (int64_t r = r0; r < r1; r++) {
      const float* m = mask + (b * d.S + r) * d.K;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < d.K; j++) mx = std::max(mx, m[j]);
      int64_t last = d.K;
      if (std::isfinite(mx)) {
        const float cut = mx - NEGLIGIBLE;
        while (last > e && !(m[last - 1] >= cut)) last--;
      }
      e = std::max(e, last);
    }
    ext[i] = std::max<int64_t>(e, 1);
  });
}

// attentionForward(q, k, v, mask, out, probs, B, S, K, H, KV, hd, scale)
napi_value AttentionForward(napi_env env, napi_callback_info info) {
  napi_value a[13];
  const char* fn = "attentionForward";
  if (!args(env, info, 13, a, fn)) return nullptr;
  float *q, *k, *v, *mask = nullptr, *out, *probs;
  size_t lq, lk, lv, lm = 0, lo, lp;
  Dims d;
  double scale;
  if (!argF32(env, a[0], &q, &lq, "q") || !argF32(env, a[1], &k, &lk, "k") || !argF32(env, a[2], &v, &lv, "v") ||
      (!isNullish(env, a[3]) && !argF32(env, a[3], &mask, &lm, "mask")) || !argF32(env, a[4], &out, &lo, "out") ||
      !argF32(env, a[5], &probs, &lp, "probs") || !readDims(env, a + 6, &d, &scale, fn))
    return nullptr;
  const int64_t qw = d.H * d.hd, kw = d.KV * d.hd;
  if (!checkLen(env, lq, d.B * d.S * qw, "q", fn) || !checkLen(env, lk, d.B * d.K * kw, "k", fn) ||
      !checkLen(env, lv, d.B * d.K * kw, "v", fn) || (mask && !checkLen(env, lm, d.B * d.S * d.K, "mask", fn)) ||
      !checkLen(env, lo, d.B * d.S * qw, "out", fn) || !checkLen(env, lp, d.B * d.H * d.S * d.K, "probs", fn))
    return nullptr;

  std::vector<int64_t> ext;
  forwardExtents(d, mask, ext);
  const int64_t nb = d.blocks(), G = d.G(), P = d.P();
  const float sc = static_cast<float>(scale);
  const float negInf = -std::numeric_limits<float>::infinity();

  parallelFor(d.B * d.H, [&](int64_t i) {
    const int64_t b = i / d.H, h = i % d.H, kvh = h / G;
    const float* Q = q + b * d.S * qw + h * d.hd;
    const float* Km = k + b * d.K * kw + kvh * d.hd;
    const float* Vm = v + b * d.K * kw + kvh * d.hd;
    float* O = out + b * d.S * qw + h * d.hd;
    float* Pm = probs + i * d.S * d.K;
    for (int64_t blk = 0; blk < nb; blk++) {
      const int64_t r0 = blk * ROWS, rows = std::min(d.S, r0 + ROWS) - r0, e = ext[b * nb + blk];
      float* Pb = Pm + r0 * d.K;
      gemmSerial(false, true, rows, e, d.hd, sc, Q + r0 * qw, qw, Km, kw, 0.f, Pb, d.K);
      for (int64_t r = 0; r < rows; r++) {
        float* p = Pb + r * d.K;
        // Visible keys of this row: [0, n); masked ones get the mask added (exp gives 0 or ~0).
        int64_t n = e;
        if (mask) {
          const float* m = mask + (b * d.S + r0 + r) * d.K;
#pragma omp simd
          for (int64_t j = 0; j < e; j++) p[j] += m[j];
        } else {
          n = std::min(e, P + r0 + r + 1);
        }
        float mx = negInf;
#pragma omp simd reduction(max : mx)
        for (int64_t j = 0; j < n; j++) mx = std::max(mx, p[j]);
        if (!(mx > negInf)) {
          // Every key masked with -inf (or a NaN score): a zero row rather than NaNs.
          std::fill(p, p + d.K, 0.f);
          continue;
        }
        float sum = 0.f;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < n; j++) {
          const float ex = fastExp(p[j] - mx);
          p[j] = ex;
          sum += ex;
        }
        const float inv = 1.f / sum;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) p[j] *= inv;
        std::fill(p + n, p + d.K, 0.f);
      }
      gemmSerial(false, false, rows, d.hd, e, 1.f, Pb, d.K, Vm, kw, 0.f, O + r0 * qw, qw);
    }
  });
  return nullptr;
}

// attentionBackward(q, k, v, probs, dout, dq, dk, dv, B, S, K, H, KV, hd, scale)
napi_value AttentionBackward(napi_env env, napi_callback_info info) {
  napi_value a[15];
  const char* fn = "attentionBackward";
  if (!args(env, info, 15, a, fn)) return nullptr;
  float *q, *k, *v, *probs, *dout, *dq, *dk, *dv;
  size_t lq, lk, lv, lp, ldo, ldq, ldk, ldv;
  Dims d;
  double scale;
  if (!argF32(env, a[0], &q, &lq, "q") || !argF32(env, a[1], &k, &lk, "k") || !argF32(env, a[2], &v, &lv, "v") ||
      !argF32(env, a[3], &probs, &lp, "probs") || !argF32(env, a[4], &dout, &ldo, "dout") ||
      !argF32(env, a[5], &dq, &ldq, "dq") || !argF32(env, a[6], &dk, &ldk, "dk") ||
      !argF32(env, a[7], &dv, &ldv, "dv") || !readDims(env, a + 8, &d, &scale, fn))
    return nullptr;
  const int64_t qw = d.H * d.hd, kw = d.KV * d.hd;
  if (!checkLen(env, lq, d.B * d.S * qw, "q", fn) || !checkLen(env, lk, d.B * d.K * kw, "k", fn) ||
      !checkLen(env, lv, d.B * d.K * kw, "v", fn) || !checkLen(env, lp, d.B * d.H * d.S * d.K, "probs", fn) ||
      !checkLen(env, ldo, d.B * d.S * qw, "dout", fn) || !checkLen(env, ldq, d.B * d.S * qw, "dq", fn) ||
      !checkLen(env, ldk, d.B * d.K * kw, "dk", fn) || !checkLen(env, ldv, d.B * d.K * kw, "dv", fn))
    return nullptr;

  const int64_t nb = d.blocks(), G = d.G();
  const float sc = static_cast<float>(scale);

  // One task per (batch row, kv head): it owns that head's dk/dv and the dq of its G query heads.
  parallelFor(d.B * d.KV, [&](int64_t i) {
    const int64_t b = i / d.KV, kvh = i % d.KV;
    const float* Km = k + b * d.K * kw + kvh * d.hd;
    const float* Vm = v + b * d.K * kw + kvh * d.hd;
    float* dK = dk + b * d.K * kw + kvh * d.hd;
    float* dV = dv + b * d.K * kw + kvh * d.hd;
    for (int64_t j = 0; j < d.K; j++) {
      std::fill(dK + j * kw, dK + j * kw + d.hd, 0.f);
      std::fill(dV + j * kw, dV + j * kw + d.hd, 0.f);
    }
    std::vector<float> dS(static_cast<size_t>(ROWS * d.K));
    for (int64_t g = 0; g < G; g++) {
      const int64_t h = kvh * G + g;
      const float* Q = q + b * d.S * qw + h * d.hd;
      const float* dO = dout + b * d.S * qw + h * d.hd;
      float* dQ = dq + b * d.S * qw + h * d.hd;
      const float* Pm = probs + (b * d.H + h) * d.S * d.K;
      for (int64_t blk = 0; blk < nb; blk++) {
        const int64_t r0 = blk * ROWS, rows = std::min(d.S, r0 + ROWS) - r0;
        const float* Pb = Pm + r0 * d.K;
        // Every gradient term of key j carries a factor p[r][j]: keys past the block's last
        // nonzero probability contribute nothing and are skipped exactly.
        int64_t e = 0;
        for (int64_t r = 0; r < rows; r++) {
          const float* p = Pb + r * d.K;
          int64_t last = d.K;
          while (last > e && p[last - 1] == 0.f) last--;
          e = std::max(e, last);
        }
        if (e == 0) {
          for (int64_t r = 0; r < rows; r++) std::fill(dQ + (r0 + r) * qw, dQ + (r0 + r) * qw + d.hd, 0.f);
          continue;
        }
        // dP = dO V^T over the block's extent, then dS = P * (dP - rowsum(dP * P)) * scale.
        gemmSerial(false, true, rows, e, d.hd, 1.f, dO + r0 * qw, qw, Vm, kw, 0.f, dS.data(), e);
        for (int64_t r = 0; r < rows; r++) {
          const float* p = Pb + r * d.K;
          float* s = dS.data() + r * e;
          float dot = 0.f;
#pragma omp simd reduction(+ : dot)
          for (int64_t j = 0; j < e; j++) dot += s[j] * p[j];
#pragma omp simd
          for (int64_t j = 0; j < e; j++) s[j] = p[j] * (s[j] - dot) * sc;
        }
        // dQ = dS K; dK += dS^T Q; dV += P^T dO.
        gemmSerial(false, false, rows, d.hd, e, 1.f, dS.data(), e, Km, kw, 0.f, dQ + r0 * qw, qw);
        gemmSerial(true, false, e, d.hd, rows, 1.f, dS.data(), e, Q + r0 * qw, qw, 1.f, dK, kw);
        gemmSerial(true, false, e, d.hd, rows, 1.f, Pb, d.K, dO + r0 * qw, qw, 1.f, dV, kw);
      }
    }
  });
  return nullptr;
}

}  // namespace

void registerAttention(napi_env env, napi_value exports) {
  defineFunction(env, exports, "attentionForward", AttentionForward);
  defineFunction(env, exports, "attentionBackward", AttentionBackward);
}
