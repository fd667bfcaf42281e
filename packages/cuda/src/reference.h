// Host reference of every kernel: plain loops over math.h's functions, one row or element at a time
// in the order the kernels use. The host test add-on exposes these to vitest (compared with
// @sftkit/native's kernels); the CUDA add-on's self test compares the GPU kernels with them.
#pragma once
#include <cstdint>
#include <vector>

#include "math.h"

namespace sftc::ref {

inline void rmsNormForward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int dim, float eps) {
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * dim;
    float ss = 0;
    for (int i = 0; i < dim; i++) ss += xr[i] * xr[i];
    const float rs = rmsRstd(ss, dim, eps);
    rstd[r] = rs;
    for (int i = 0; i < dim; i++) y[r * dim + i] = rmsY(xr[i], rs, w[i]);
  }
}

// dw (when not null) is overwritten.
inline void rmsNormBackward(const float* dy, const float* x, const float* w, const float* rstd, float* dx, float* dw,
                            int64_t rows, int dim) {
  if (dw)
    for (int i = 0; i < dim; i++) dw[i] = 0;
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * dim;
    const float* dyr = dy + r * dim;
    float dot = 0;
    for (int i = 0; i < dim; i++) dot += w[i] * dyr[i] * xr[i];
    const float meanDot = dot / dim;
    for (int i = 0; i < dim; i++) {
      dx[r * dim + i] = rmsDx(dyr[i], xr[i], w[i], rstd[r], meanDot);
      if (dw) dw[i] += rmsDw(dyr[i], xr[i], rstd[r]);
    }
  }
}

// x, y [T, heads * hd]; cos, sin [T, hd].
inline void rope(const float* x, const float* cos, const float* sin, float* y, int64_t T, int heads, int hd,
                 bool inverse) {
  const int half = hd / 2;
  for (int64_t t = 0; t < T; t++)
    for (int h = 0; h < heads; h++)
      for (int i = 0; i < hd; i++) {
        const bool first = i < half;
        const int pi = first ? i + half : i - half;
        const float* xr = x + (t * heads + h) * hd;
        y[(t * heads + h) * hd + i] =
            ropeElem(xr[i], xr[pi], cos[t * hd + i], sin[t * hd + i], sin[t * hd + pi], first, inverse);
      }
}

inline void swigluForward(const float* g, const float* u, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = swigluY(g[i], u[i]);
}
inline void swigluBackward(const float* dy, const float* g, const float* u, float* dg, float* du, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    dg[i] = swigluDg(dy[i], g[i], u[i]);
    du[i] = swigluDu(dy[i], g[i]);
  }
}

struct AttnDims {
  int B, S, K, H, KV, hd;
};

// q, out [B*S, H*hd]; k, v [B*K, KV*hd]; lse [B, H, S]; segments [B*S] or null.
inline void attentionForward(const float* q, const float* k, const float* v, const int32_t* seg, float* out,
                             float* lse, AttnDims d, float scale) {
  const int G = d.H / d.KV, qw = d.H * d.hd, kw = d.KV * d.hd;
  std::vector<float> acc(d.hd);
  for (int b = 0; b < d.B; b++)
    for (int h = 0; h < d.H; h++)
      for (int s = 0; s < d.S; s++) {
        const float* qr = q + (int64_t(b) * d.S + s) * qw + h * d.hd;
        OnlineSoftmax sm;
        for (int i = 0; i < d.hd; i++) acc[i] = 0;
        for (int j = 0; j < d.K; j++) {
          if (!attnVisible(seg, b, d.S, d.K, s, j)) continue;
          const float* kr = k + (int64_t(b) * d.K + j) * kw + (h / G) * d.hd;
          const float* vr = v + (int64_t(b) * d.K + j) * kw + (h / G) * d.hd;
          float sc = 0;
          for (int i = 0; i < d.hd; i++) sc += qr[i] * kr[i];
          float rescale, p;
          sm.update(sc * scale, &rescale, &p);
          for (int i = 0; i < d.hd; i++) acc[i] = acc[i] * rescale + p * vr[i];
        }
        float* o = out + (int64_t(b) * d.S + s) * qw + h * d.hd;
        for (int i = 0; i < d.hd; i++) o[i] = acc[i] / sm.l;
        lse[(int64_t(b) * d.H + h) * d.S + s] = sm.lse();
      }
}

// dq [B*S, H*hd], dk, dv [B*K, KV*hd] overwritten.
inline void attentionBackward(const float* q, const float* k, const float* v, const int32_t* seg, const float* out,
                              const float* lse, const float* dout, float* dq, float* dk, float* dv, AttnDims d,
                              float scale) {
  const int G = d.H / d.KV, qw = d.H * d.hd, kw = d.KV * d.hd;
  for (int64_t i = 0; i < int64_t(d.B) * d.S * qw; i++) dq[i] = 0;
  for (int64_t i = 0; i < int64_t(d.B) * d.K * kw; i++) dk[i] = dv[i] = 0;
  for (int b = 0; b < d.B; b++)
    for (int h = 0; h < d.H; h++)
      for (int s = 0; s < d.S; s++) {
        const int64_t qo = (int64_t(b) * d.S + s) * qw + h * d.hd;
        const float L = lse[(int64_t(b) * d.H + h) * d.S + s];
        float D = 0;
        for (int i = 0; i < d.hd; i++) D += dout[qo + i] * out[qo + i];
        for (int j = 0; j < d.K; j++) {
          if (!attnVisible(seg, b, d.S, d.K, s, j)) continue;
          const int64_t ko = (int64_t(b) * d.K + j) * kw + (h / G) * d.hd;
          float sc = 0, dp = 0;
          for (int i = 0; i < d.hd; i++) {
            sc += q[qo + i] * k[ko + i];
            dp += dout[qo + i] * v[ko + i];
          }
          const float p = attnProb(sc * scale, L);
          const float ds = attnDScore(p, dp, D) * scale;
          for (int i = 0; i < d.hd; i++) {
            dq[qo + i] += ds * k[ko + i];
            dk[ko + i] += ds * q[qo + i];
            dv[ko + i] += p * dout[qo + i];
          }
        }
      }
}

// Summed loss over rows whose target is not -100; grad [rows, V] (when not null) = gradScale * dLoss/dlogits.
inline double crossEntropy(const float* logits, const int32_t* targets, int64_t rows, int V, float gradScale,
                           float* grad, int64_t* count) {
  double total = 0;
  *count = 0;
  for (int64_t r = 0; r < rows; r++) {
    const float* l = logits + r * V;
    const int t = targets[r];
    if (t < 0) {
      if (grad)
        for (int j = 0; j < V; j++) grad[r * V + j] = 0;
      continue;
    }
    float m = -INFINITY;
    for (int j = 0; j < V; j++) m = l[j] > m ? l[j] : m;
    float z = 0;
    for (int j = 0; j < V; j++) z += expf(l[j] - m);
    const float lse = m + logf(z);
    total += ceLoss(lse, l[t]);
    (*count)++;
    if (grad)
      for (int j = 0; j < V; j++) grad[r * V + j] = ceGrad(l[j], lse, j == t, gradScale);
  }
  return total;
}

inline void adamw(float* p, const float* g, float* m, float* v, int64_t n, float lr, float b1, float b2, float eps,
                  float wd, float c1, float c2, float gradScale) {
  for (int64_t i = 0; i < n; i++) adamwElem(p + i, m + i, v + i, g[i] * gradScale, lr, b1, b2, eps, wd, c1, c2);
}

inline void nf4Dequantize(const uint8_t* codes, const float* absmax, const int8_t* absmaxCodes,
                          const float* absmaxScales, float offset, int blockSize, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    out[i] = nf4Value(codes, i, nf4Absmax(absmax, absmaxCodes, absmaxScales, offset, i / blockSize));
}

// out[t, :] = bf16 table row ids[t] as float32.
inline void embeddingGather(const uint16_t* table, const int32_t* ids, float* out, int64_t T, int dim) {
  for (int64_t t = 0; t < T; t++)
    for (int i = 0; i < dim; i++) out[t * dim + i] = bf16ToF32(table[int64_t(ids[t]) * dim + i]);
}
// dTable[ids[t], :] += dy[t, :].
inline void embeddingScatterAdd(const float* dy, const int32_t* ids, float* dTable, int64_t T, int dim) {
  for (int64_t t = 0; t < T; t++)
    for (int i = 0; i < dim; i++) dTable[int64_t(ids[t]) * dim + i] += dy[t * dim + i];
}

}  // namespace sftc::ref
