// The per-element and per-row arithmetic of every CUDA kernel, as __host__ __device__ functions: the
// kernels (kernels.cu) and the host reference (reference.h, tested against @sftkit/native on CI, which
// has no GPU) call the same code, so a GPU run only has to show the kernels' indexing is right.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define SFT_HD __host__ __device__ __forceinline__
#else
#define SFT_HD inline
#endif

namespace sftc {

// ---- bf16 <-> f32 (round to nearest even; NaN stays NaN) ----
SFT_HD float bf16ToF32(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
SFT_HD uint16_t f32ToBf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// ---- RMSNorm: y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps) ----
SFT_HD float rmsRstd(float sumSquares, int dim, float eps) { return 1.0f / sqrtf(sumSquares / dim + eps); }
SFT_HD float rmsY(float x, float rstd, float w) { return x * rstd * w; }
// dx = rstd * (w dy - x rstd^2 mean(w dy x)); meanDot = sum_j(w_j dy_j x_j) / dim.
SFT_HD float rmsDx(float dy, float x, float w, float rstd, float meanDot) {
  return rstd * (w * dy - x * rstd * rstd * meanDot);
}
SFT_HD float rmsDw(float dy, float x, float rstd) { return dy * x * rstd; }

// ---- RoPE (rotate half) on one element i of a head of hd = 2 * half values ----
// forward: y_i = x_i cos_i + rot(x)_i sin_i, rot(x) = cat(-x[half:], x[:half]).
// inverse (the gradient): dx_i = dy_i cos_i + rot^T(dy * sin)_i, rot^T(v) = cat(v[half:], -v[:half]).
// partner = x[i +- half]; sinSelf = sin_i; sinPartner = sin[i +- half].
SFT_HD float ropeElem(float x, float partner, float cosSelf, float sinSelf, float sinPartner, bool firstHalf,
                      bool inverse) {
  if (!inverse) return x * cosSelf + (firstHalf ? -partner : partner) * sinSelf;
  return x * cosSelf + (firstHalf ? partner * sinPartner : -partner * sinPartner);
}

// ---- SwiGLU: y = silu(g) * u ----
SFT_HD float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
SFT_HD float swigluY(float g, float u) { return g * sigmoid(g) * u; }
// d silu / dg = s (1 + g (1 - s)).
SFT_HD float swigluDg(float dy, float g, float u) {
  const float s = sigmoid(g);
  return dy * u * s * (1.0f + g * (1.0f - s));
}
SFT_HD float swigluDu(float dy, float g) { return dy * g * sigmoid(g); }

// ---- Causal GQA attention ----
// Can query s of row b see key j (K keys: K - S prefix keys, then the row's own S)? The rule of
// batch.ts attentionMask and native flash.cc: a token of segment id != 0 sees every prefix key and the
// earlier keys of its own segment (itself included); padding (segment 0) sees only itself.
// The same rule with the segment ids already read (the tiled kernels keep them in registers and shared
// memory): ss is query s's id, st key j's (j >= P: the row's token j - P), hasSeg false: causal only.
SFT_HD bool attnVisibleIds(bool hasSeg, int32_t ss, int32_t st, int P, int s, int j) {
  if (!hasSeg) return j < P + s + 1;
  if (j < P) return ss != 0;
  const int t = j - P;
  if (t > s) return false;
  return ss == 0 ? t == s : st == ss;
}
SFT_HD bool attnVisible(const int32_t* seg, int b, int S, int K, int s, int j) {
  const int P = K - S;
  if (!seg) return attnVisibleIds(false, 0, 0, P, s, j);
  return attnVisibleIds(true, seg[b * S + s], j >= P ? seg[b * S + (j - P)] : 0, P, s, j);
}
// Online softmax over a row's scores: after update(score), `scale` rescales what was accumulated and
// `p` weighs the new key (so acc = acc * scale + p * v); at the end acc / l is the output.
struct OnlineSoftmax {
  float m = -INFINITY;
  float l = 0.0f;
  SFT_HD void update(float score, float* scale, float* p) {
    const float mNew = score > m ? score : m;
    *scale = expf(m - mNew);  // exp(-inf) = 0 at the first key
    *p = expf(score - mNew);
    l = l * *scale + *p;
    m = mNew;
  }
  SFT_HD float lse() const { return m + logf(l); }
};
// Backward: p = exp(score - lse); dScore = p (dp - D) with dp = dout . v_j and D = dout . out.
SFT_HD float attnProb(float score, float lse) { return expf(score - lse); }
SFT_HD float attnDScore(float p, float dp, float D) { return p * (dp - D); }

// ---- Cross-entropy over one row of logits (target -100: not trained) ----
SFT_HD float ceLoss(float lse, float targetLogit) { return lse - targetLogit; }
// d(gradScale * loss) / d logit_j = gradScale * (softmax_j - [j == target]).
SFT_HD float ceGrad(float logit, float lse, bool isTarget, float gradScale) {
  return gradScale * (expf(logit - lse) - (isTarget ? 1.0f : 0.0f));
}

// ---- AdamW (torch's, bias corrections c1 = 1 - b1^t, c2 = 1 - b2^t; g already scaled) ----
SFT_HD void adamwElem(float* p, float* m, float* v, float g, float lr, float b1, float b2, float eps, float wd,
                      float c1, float c2) {
  const float mi = b1 * *m + (1.0f - b1) * g;
  const float vi = b2 * *v + (1.0f - b2) * g * g;
  *m = mi;
  *v = vi;
  *p = *p * (1.0f - lr * wd) - (lr / c1) * mi / (sqrtf(vi / c2) + eps);
}

// ---- NF4 (nf4.ts's NF4Tensor: codes two per byte, high nibble first; absmax per block, or
// double-quantized: int8 code * scale[block / 256] + offset) ----
SFT_HD float nf4Code(int c) {
  constexpr float kCodes[16] = {-1.0f,
                                -0.6961928009986877f,
                                -0.5250730514526367f,
                                -0.39491748809814453f,
                                -0.28444138169288635f,
                                -0.18477343022823334f,
                                -0.09105003625154495f,
                                0.0f,
                                0.07958029955625534f,
                                0.16093020141124725f,
                                0.24611230194568634f,
                                0.33791524171829224f,
                                0.44070982933044434f,
                                0.5626170039176941f,
                                0.7229568362236023f,
                                1.0f};
  return kCodes[c & 15];
}
SFT_HD float nf4Absmax(const float* absmax, const int8_t* absmaxCodes, const float* absmaxScales, float offset,
                       int64_t block) {
  if (absmax) return absmax[block];
  return static_cast<float>(absmaxCodes[block]) * absmaxScales[block / 256] + offset;
}
SFT_HD float nf4Value(const uint8_t* codes, int64_t i, float blockAbsmax) {
  const uint8_t byte = codes[i >> 1];
  return nf4Code((i & 1) == 0 ? byte >> 4 : byte & 15) * blockAbsmax;
}

}  // namespace sftc
