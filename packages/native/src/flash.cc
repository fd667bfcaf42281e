// Flash-style causal attention: memory linear in sequence length. The forward keeps only the
// output and each row's log-sum-exp; the backward recomputes the probabilities a block at a time.
//
// Layouts as attention.cc: q [B*S, H*hd]; k, v [B*K, KV*hd] (K - S prefix keys, then the row's own
// S); query head h reads kv head h / (H / KV). Visibility (batch.ts attentionMask's rule): a token
// of segment s != 0 sees every prefix key and the earlier own keys of segment s (itself included);
// a padding token (segment 0) sees only itself. Without segments the row is one segment.
// A window W > 0 (sliding-window attention, batch.ts attentionMask's window rule) hides keys more than
// W - 1 places before the query, counting the prefix as the places just before each segment's start.
// A soft-cap c > 0 (Gemma 2) replaces each scaled score x by c tanh(x / c) before the softmax.
#include <cmath>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.h"

using namespace sft;

namespace {

// Query rows and keys per block (a block's scores are BR x BC in per-thread scratch).
// (32 to 128 each measured within noise at S = 512 and 2048 on a loaded 2-core machine.)
constexpr int64_t BR = 64;
constexpr int64_t BC = 64;
constexpr float NEG_INF = -std::numeric_limits<float>::infinity();

struct Dims {
  int64_t B, S, K, H, KV, hd;
  int64_t W = 0;      // sliding window (0: none)
  float cap = 0.f;    // attention-logit soft-cap (0: none)
  int64_t P() const { return K - S; }
  int64_t G() const { return H / KV; }
  int64_t qBlocks() const { return (S + BR - 1) / BR; }
  int64_t qw() const { return H * hd; }
  int64_t kw() const { return KV * hd; }
};

bool readDims(napi_env env, napi_value* a, Dims* d, double* scale, const char* fn) {
  if (!argInt(env, a[0], &d->B, "B") || !argInt(env, a[1], &d->S, "S") || !argInt(env, a[2], &d->K, "K") ||
      !argInt(env, a[3], &d->H, "H") || !argInt(env, a[4], &d->KV, "KV") || !argInt(env, a[5], &d->hd, "hd") ||
      !argNum(env, a[6], scale, "scale"))
    return false;
  double cap = 0;
  if ((!isNullish(env, a[7]) && !argInt(env, a[7], &d->W, "window")) ||
      (!isNullish(env, a[8]) && !argNum(env, a[8], &cap, "softcap")))
    return false;
  if (d->W < 0 || cap < 0) {
    rangeError(env, fn, "need window >= 0 and softcap >= 0 (0: none)");
    return false;
  }
  d->cap = static_cast<float>(cap);
  if (d->B < 1 || d->S < 1 || d->K < d->S || d->H < 1 || d->KV < 1 || d->hd < 1 || d->H % d->KV != 0) {
    rangeError(env, fn, "need B, S, H, KV, hd >= 1, K >= S and H a multiple of KV");
    return false;
  }
  return true;
}

// Which keys a query block can see, and each token's first own key. The tables are reused across
// calls (kernels are called from one JS thread).
struct Visibility {
  const Dims& d;
  const int32_t* seg;            // [B*S] or null
  std::vector<int64_t>& first;   // [B*S]: the first position of the token's segment (itself for padding)
  std::vector<int64_t>& lo;      // [B * qBlocks]: the smallest first[] of the block's rows
  std::vector<uint8_t>& anyReal;  // [B * qBlocks]: some row of the block is not padding

  static std::vector<int64_t>& firstTable() {
    static std::vector<int64_t> t;
    return t;
  }
  static std::vector<int64_t>& loTable() {
    static std::vector<int64_t> t;
    return t;
  }
  static std::vector<uint8_t>& realTable() {
    static std::vector<uint8_t> t;
    return t;
  }

  Visibility(const Dims& dims, const int32_t* segments)
      : d(dims), seg(segments), first(firstTable()), lo(loTable()), anyReal(realTable()) {
    const int64_t nb = d.qBlocks();
    lo.assign(d.B * nb, 0);
    anyReal.assign(d.B * nb, 1);
    if (!seg) return;
    first.resize(d.B * d.S);
    static std::unordered_map<int32_t, int64_t> firstOf;
    for (int64_t b = 0; b < d.B; b++) {
      firstOf.clear();
      for (int64_t s = 0; s < d.S; s++) {
        const int32_t id = seg[b * d.S + s];
        first[b * d.S + s] = id == 0 ? s : firstOf.emplace(id, s).first->second;
      }
      for (int64_t qb = 0; qb < nb; qb++) {
        const int64_t r0 = qb * BR, r1 = std::min(d.S, r0 + BR);
        int64_t l = r0;
        bool real = false;
        for (int64_t s = r0; s < r1; s++) {
          l = std::min(l, first[b * d.S + s]);
          real = real || seg[b * d.S + s] != 0;
        }
        lo[b * nb + qb] = l;
        anyReal[b * nb + qb] = real;
      }
    }
  }

  // Can query s (of row b) see key j (0 <= j < K)?
  bool visible(int64_t b, int64_t s, int64_t j) const {
    const int64_t P = d.P();
    if (!seg) return j < P + s + 1 && (d.W == 0 || j > P + s - d.W);
    const int32_t ss = seg[b * d.S + s];
    if (j < P) return ss != 0 && (d.W == 0 || j > P + s - first[b * d.S + s] - d.W);
    const int64_t t = j - P;
    if (t > s || (d.W > 0 && t <= s - d.W)) return false;
    return ss == 0 ? t == s : seg[b * d.S + t] == ss;
  }

  // Calls fn(c0, c1) for the key blocks query block qb of row b may see, in order: the blocks of
  // keyBlock()'s partition that sees() admits (one tiling for forward and both backward passes,
  // so their sums run in one order).
  template <typename F>
  void keyBlocks(int64_t b, int64_t qb, F fn) const {
    for (int64_t kb = 0; kb < blockCount(); kb++) {
      int64_t c0, c1;
      keyBlock(kb, &c0, &c1);
      if (sees(b, qb, c0, c1)) fn(c0, c1);
    }
  }

  // Keys are split into blocks of BC, the prefix and the own keys separately.
  int64_t prefixBlocks() const { return (d.P() + BC - 1) / BC; }
  int64_t blockCount() const { return prefixBlocks() + (d.S + BC - 1) / BC; }
  void keyBlock(int64_t kb, int64_t* c0, int64_t* c1) const {
    const int64_t P = d.P(), pb = prefixBlocks();
    *c0 = kb < pb ? kb * BC : P + (kb - pb) * BC;
    *c1 = kb < pb ? std::min(P, *c0 + BC) : std::min(d.K, *c0 + BC);
  }

  // Whether query block qb of row b may see a key of [c0, c1) (a block of the partition).
  bool sees(int64_t b, int64_t qb, int64_t c0, int64_t c1) const {
    const int64_t P = d.P(), i = b * d.qBlocks() + qb;
    const int64_t r0 = qb * BR, r1 = std::min(d.S, r0 + BR);
    // Under a window the block's first query (the nearest to the start of its segment without segments)
    // sees back furthest.
    if (d.W > 0 && c1 - 1 <= (c0 < P ? P + (seg ? 0 : r0) : P + r0) - d.W) return false;
    if (c0 < P) return anyReal[i];
    return r1 - 1 >= c0 - P && lo[i] <= c1 - 1 - P;
  }
};

// Scaled scores of rows [r0, r0+rows) against keys [c0, c0+kc) into sb [rows, kc], invisible ones -inf.
void maskedScores(const Visibility& vis, int64_t b, int64_t r0, int64_t rows, int64_t c0, int64_t kc,
                  const float* Q, const float* Kp, float scale, float* sb) {
  const Dims& d = vis.d;
  gemmSerial(false, true, rows, kc, d.hd, scale, Q + r0 * d.qw(), d.qw(), Kp + c0 * d.kw(), d.kw(), 0.f, sb, kc);
  if (d.cap > 0) {
    const float cap = d.cap, inv = 1.f / d.cap;
    for (int64_t i = 0; i < rows * kc; i++) sb[i] = cap * std::tanh(sb[i] * inv);
  }
  for (int64_t r = 0; r < rows; r++) {
    float* row = sb + r * kc;
    const int64_t s = r0 + r;
    if (!vis.seg) {
      const int64_t n = std::max<int64_t>(0, std::min(kc, d.P() + s + 1 - c0));
      std::fill(row + n, row + kc, NEG_INF);
      if (d.W > 0) {
        const int64_t from = std::min(kc, std::max<int64_t>(0, d.P() + s - d.W + 1 - c0));
        std::fill(row, row + from, NEG_INF);
      }
    } else {
      for (int64_t j = 0; j < kc; j++)
        if (!vis.visible(b, s, c0 + j)) row[j] = NEG_INF;
    }
  }
}

struct Arrays {
  const float *q, *k, *v, *out, *lse, *dout;
  float *dq, *dk, *dv;
};

// flashAttentionForward(q, k, v, segments, out, lse, B, S, K, H, KV, hd, scale, window?, softcap?)
napi_value FlashForward(napi_env env, napi_callback_info info) {
  const char* fn = "flashAttentionForward";
  napi_value a[15];
  if (!argsOptional(env, info, 13, 15, a, fn)) return nullptr;
  float *q, *k, *v, *out, *lse;
  int32_t* seg = nullptr;
  size_t lq, lk, lv, ls = 0, lo, ll;
  Dims d;
  double scale;
  if (!argF32(env, a[0], &q, &lq, "q") || !argF32(env, a[1], &k, &lk, "k") || !argF32(env, a[2], &v, &lv, "v") ||
      (!isNullish(env, a[3]) && !argI32Array(env, a[3], &seg, &ls, "segments")) ||
      !argF32(env, a[4], &out, &lo, "out") || !argF32(env, a[5], &lse, &ll, "lse") ||
      !readDims(env, a + 6, &d, &scale, fn))
    return nullptr;
  if (!checkLength(env, lq, d.B * d.S * d.qw(), "q", fn) || !checkLength(env, lk, d.B * d.K * d.kw(), "k", fn) ||
      !checkLength(env, lv, d.B * d.K * d.kw(), "v", fn) || (seg && !checkLength(env, ls, d.B * d.S, "segments", fn)) ||
      !checkLength(env, lo, d.B * d.S * d.qw(), "out", fn) || !checkLength(env, ll, d.B * d.H * d.S, "lse", fn))
    return nullptr;
  const Visibility vis(d, seg);
  const int64_t nb = d.qBlocks(), qw = d.qw(), kw = d.kw(), G = d.G();
  const float sc = static_cast<float>(scale);

  parallelFor(d.B * d.H * nb, [&](int64_t task) {
    const int64_t b = task / (d.H * nb), h = (task / nb) % d.H, qb = task % nb;
    const int64_t r0 = qb * BR, rows = std::min(d.S, r0 + BR) - r0;
    const float* Q = q + b * d.S * qw + h * d.hd;
    const float* Kp = k + b * d.K * kw + (h / G) * d.hd;
    const float* Vp = v + b * d.K * kw + (h / G) * d.hd;
    float* O = out + (b * d.S + r0) * qw + h * d.hd;
    float* sb = scratch(BR * BC, 0);
    float* m = scratch(2 * BR, 1);
    float* l = m + BR;
    for (int64_t r = 0; r < rows; r++) {
      std::fill(O + r * qw, O + r * qw + d.hd, 0.f);
      m[r] = NEG_INF;
      l[r] = 0.f;
    }
    vis.keyBlocks(b, qb, [&](int64_t c0, int64_t c1) {
      const int64_t kc = c1 - c0;
      maskedScores(vis, b, r0, rows, c0, kc, Q, Kp, sc, sb);
      for (int64_t r = 0; r < rows; r++) {
        float* p = sb + r * kc;
        float mx = m[r];
#pragma omp simd reduction(max : mx)
        for (int64_t j = 0; j < kc; j++) mx = std::max(mx, p[j]);
        if (mx == NEG_INF) {
          std::fill(p, p + kc, 0.f);
          continue;
        }
        const float alpha = fastExp(m[r] - mx);
        float sum = 0.f;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < kc; j++) {
          const float e = fastExp(p[j] - mx);
          p[j] = e;
          sum += e;
        }
        l[r] = l[r] * alpha + sum;
        m[r] = mx;
        if (alpha != 1.f) {
          float* o = O + r * qw;
          for (int64_t c = 0; c < d.hd; c++) o[c] *= alpha;
        }
      }
      gemmSerial(false, false, rows, d.hd, kc, 1.f, sb, kc, Vp + c0 * kw, kw, 1.f, O, qw);
    });
    float* L = lse + (b * d.H + h) * d.S + r0;
    for (int64_t r = 0; r < rows; r++) {
      const float inv = 1.f / l[r];
      float* o = O + r * qw;
      for (int64_t c = 0; c < d.hd; c++) o[c] *= inv;
      L[r] = m[r] + std::log(l[r]);
    }
  });
  return nullptr;
}

// For a (query block, key block) tile: P = exp(S - lse) into pb and dS = P * (dO V^T - D) into dsb.
void probsAndGrad(const Visibility& vis, const Arrays& x, int64_t b, int64_t h, int64_t r0, int64_t rows, int64_t c0,
                  int64_t kc, float scale, float* pb, float* dsb, float* D) {
  const Dims& d = vis.d;
  const int64_t qw = d.qw(), kw = d.kw(), kvh = h / d.G();
  const float* Q = x.q + b * d.S * qw + h * d.hd;
  const float* Kp = x.k + b * d.K * kw + kvh * d.hd;
  const float* Vp = x.v + b * d.K * kw + kvh * d.hd;
  const float* dO = x.dout + (b * d.S + r0) * qw + h * d.hd;
  const float* L = x.lse + (b * d.H + h) * d.S + r0;
  maskedScores(vis, b, r0, rows, c0, kc, Q, Kp, scale, pb);
  gemmSerial(false, true, rows, kc, d.hd, 1.f, dO, qw, Vp + c0 * kw, kw, 0.f, dsb, kc);
  const float inv = d.cap > 0 ? 1.f / d.cap : 0.f;
  for (int64_t r = 0; r < rows; r++) {
    float* p = pb + r * kc;
    float* ds = dsb + r * kc;
    const float lr = L[r], dr = D[r];
#pragma omp simd
    for (int64_t j = 0; j < kc; j++) {
      const float pj = fastExp(p[j] - lr);
      // Through the soft-cap: d(c tanh(x / c))/dx = 1 - tanh^2 (a hidden key's pj is 0).
      const float t = pj > 0.f ? p[j] * inv : 0.f;
      p[j] = pj;
      ds[j] = pj * (ds[j] - dr) * (1.f - t * t);
    }
  }
}

// D[r] = rowsum(dO * O) of query rows [r0, r0+rows), head h.
void rowDots(const Dims& d, const Arrays& x, int64_t b, int64_t h, int64_t r0, int64_t rows, float* D) {
  const int64_t qw = d.qw();
  for (int64_t r = 0; r < rows; r++) {
    const float* o = x.out + (b * d.S + r0 + r) * qw + h * d.hd;
    const float* g = x.dout + (b * d.S + r0 + r) * qw + h * d.hd;
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < d.hd; c++) s += o[c] * g[c];
    D[r] = s;
  }
}

// flashAttentionBackward(q, k, v, segments, out, lse, dout, dq, dk, dv, B, S, K, H, KV, hd, scale, window?,
// softcap?)
napi_value FlashBackward(napi_env env, napi_callback_info info) {
  const char* fn = "flashAttentionBackward";
  napi_value a[19];
  if (!argsOptional(env, info, 17, 19, a, fn)) return nullptr;
  float *q, *k, *v, *out, *lse, *dout, *dq, *dk, *dv;
  int32_t* seg = nullptr;
  size_t lq, lk, lv, ls = 0, lo, ll, ldo, ldq, ldk, ldv;
  Dims d;
  double scale;
  if (!argF32(env, a[0], &q, &lq, "q") || !argF32(env, a[1], &k, &lk, "k") || !argF32(env, a[2], &v, &lv, "v") ||
      (!isNullish(env, a[3]) && !argI32Array(env, a[3], &seg, &ls, "segments")) ||
      !argF32(env, a[4], &out, &lo, "out") || !argF32(env, a[5], &lse, &ll, "lse") ||
      !argF32(env, a[6], &dout, &ldo, "dout") || !argF32(env, a[7], &dq, &ldq, "dq") ||
      !argF32(env, a[8], &dk, &ldk, "dk") || !argF32(env, a[9], &dv, &ldv, "dv") ||
      !readDims(env, a + 10, &d, &scale, fn))
    return nullptr;
  const int64_t qn = d.B * d.S * d.qw(), kn = d.B * d.K * d.kw();
  if (!checkLength(env, lq, qn, "q", fn) || !checkLength(env, lk, kn, "k", fn) || !checkLength(env, lv, kn, "v", fn) ||
      (seg && !checkLength(env, ls, d.B * d.S, "segments", fn)) || !checkLength(env, lo, qn, "out", fn) ||
      !checkLength(env, ll, d.B * d.H * d.S, "lse", fn) || !checkLength(env, ldo, qn, "dout", fn) ||
      !checkLength(env, ldq, qn, "dq", fn) || !checkLength(env, ldk, kn, "dk", fn) ||
      !checkLength(env, ldv, kn, "dv", fn))
    return nullptr;
  const Visibility vis(d, seg);
  const Arrays x{q, k, v, out, lse, dout, dq, dk, dv};
  const int64_t nb = d.qBlocks(), qw = d.qw(), kw = d.kw(), G = d.G();
  const float sc = static_cast<float>(scale);

  // One tile's products: dV += P^T dO, dK += scale dS^T Q (when dK), dQ += scale dS K (when dQ).
  auto tile = [&](int64_t b, int64_t h, int64_t qb, int64_t c0, int64_t c1, float* D, float* dK, float* dV,
                  float* dQ) {
    const int64_t r0 = qb * BR, rows = std::min(d.S, r0 + BR) - r0, kc = c1 - c0;
    float* pb = scratch(BR * BC, 0);
    float* dsb = scratch(BR * BC, 1);
    probsAndGrad(vis, x, b, h, r0, rows, c0, kc, sc, pb, dsb, D);
    if (dK) {
      const float* Q = q + (b * d.S + r0) * qw + h * d.hd;
      const float* dO = dout + (b * d.S + r0) * qw + h * d.hd;
      gemmSerial(true, false, kc, d.hd, rows, 1.f, pb, kc, dO, qw, 1.f, dV, kw);
      gemmSerial(true, false, kc, d.hd, rows, sc, dsb, kc, Q, qw, 1.f, dK, kw);
    }
    if (dQ) {
      const float* Kp = k + (b * d.K + c0) * kw + (h / G) * d.hd;
      gemmSerial(false, false, rows, d.hd, kc, sc, dsb, kc, Kp, kw, 1.f, dQ, qw);
    }
  };
  auto zeroRows = [](float* p, int64_t rows, int64_t ld, int64_t width) {
    for (int64_t r = 0; r < rows; r++) std::fill(p + r * ld, p + r * ld + width, 0.f);
  };
  const int64_t kBlocks = vis.blockCount(), tasks = d.B * d.KV;

  if (tasks % threads() == 0 || tasks >= 4 * threads()) {
    // One pass: a task per (row, kv head) owns that head's dk, dv and the dq of its G query heads.
    parallelFor(tasks, [&](int64_t task) {
      const int64_t b = task / d.KV, kvh = task % d.KV;
      zeroRows(dk + b * d.K * kw + kvh * d.hd, d.K, kw, d.hd);
      zeroRows(dv + b * d.K * kw + kvh * d.hd, d.K, kw, d.hd);
      float* D = scratch(BR, 2);
      for (int64_t g = 0; g < G; g++) {
        const int64_t h = kvh * G + g;
        zeroRows(dq + b * d.S * qw + h * d.hd, d.S, qw, d.hd);
        for (int64_t qb = 0; qb < nb; qb++) {
          const int64_t r0 = qb * BR, rows = std::min(d.S, r0 + BR) - r0;
          rowDots(d, x, b, h, r0, rows, D);
          float* dQ = dq + (b * d.S + r0) * qw + h * d.hd;
          vis.keyBlocks(b, qb, [&](int64_t c0, int64_t c1) {
            const int64_t at = (b * d.K + c0) * kw + kvh * d.hd;
            tile(b, h, qb, c0, c1, D, dk + at, dv + at, dQ);
          });
        }
      }
    });
    return nullptr;
  }

  // Too few (row, kv head) pairs to share out evenly: two passes, recomputing the tiles. First dk
  // and dv, a task per (row, kv head, key block), which owns those rows; then dq, a task per (row,
  // head, query block). Each sum runs in the one-pass order, so the results are the same bits.
  parallelFor(tasks * kBlocks, [&](int64_t task) {
    const int64_t b = task / (d.KV * kBlocks), kvh = (task / kBlocks) % d.KV, kb = task % kBlocks;
    int64_t c0, c1;
    vis.keyBlock(kb, &c0, &c1);
    const int64_t at = (b * d.K + c0) * kw + kvh * d.hd;
    zeroRows(dk + at, c1 - c0, kw, d.hd);
    zeroRows(dv + at, c1 - c0, kw, d.hd);
    float* D = scratch(BR, 2);
    for (int64_t g = 0; g < G; g++) {
      const int64_t h = kvh * G + g;
      for (int64_t qb = 0; qb < nb; qb++) {
        if (!vis.sees(b, qb, c0, c1)) continue;
        const int64_t r0 = qb * BR, rows = std::min(d.S, r0 + BR) - r0;
        rowDots(d, x, b, h, r0, rows, D);
        tile(b, h, qb, c0, c1, D, dk + at, dv + at, nullptr);
      }
    }
  });
  parallelFor(d.B * d.H * nb, [&](int64_t task) {
    const int64_t b = task / (d.H * nb), h = (task / nb) % d.H, qb = task % nb;
    const int64_t r0 = qb * BR, rows = std::min(d.S, r0 + BR) - r0;
    float* dQ = dq + (b * d.S + r0) * qw + h * d.hd;
    zeroRows(dQ, rows, qw, d.hd);
    float* D = scratch(BR, 2);
    rowDots(d, x, b, h, r0, rows, D);
    vis.keyBlocks(b, qb, [&](int64_t c0, int64_t c1) { tile(b, h, qb, c0, c1, D, nullptr, nullptr, dQ); });
  });
  return nullptr;
}

}  // namespace

void registerFlash(napi_env env, napi_value exports) {
  defineFunction(env, exports, "flashAttentionForward", FlashForward);
  defineFunction(env, exports, "flashAttentionBackward", FlashBackward);
}
