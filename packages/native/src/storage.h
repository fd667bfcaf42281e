// Weights in their storage dtype (f32, bf16, f16, NF4) and their conversion to float32, a range of
// values at a time, so kernels can work through a large frozen weight tile by tile.
#pragma once
#include <cstdint>
#include <cstring>

#include "common.h"

namespace sft {

enum class Dtype { F32, BF16, F16, NF4 };

struct Weight {
  Dtype dtype = Dtype::F32;
  size_t count = 0;  // values the arrays cover
  const float* f32 = nullptr;
  const uint16_t* u16 = nullptr;
  // NF4: codes two per byte (high nibble first), one absmax per blockSize values: float32, or
  // double-quantized as int8 code * scale[block / 256] + offset.
  const uint8_t* codes = nullptr;
  const float* absmax = nullptr;
  const int8_t* absmaxCodes = nullptr;
  const float* absmaxScales = nullptr;
  float absmaxOffset = 0.f;
  int64_t blockSize = 64;
  float table[16];
};

// Reads a NativeWeight object; checks it holds at least `need` values (RangeError naming `what`).
bool readWeight(napi_env env, napi_value v, int64_t need, const char* what, const char* fn, Weight* w);

inline float bf16ToF32(uint16_t h) { return __builtin_bit_cast(float, static_cast<uint32_t>(h) << 16); }

// IEEE half bits to float, branch-free (so loops over it vectorize); subnormals, inf, NaN exact.
inline float f16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t em = h & 0x7fffu;
  const uint32_t normal = (em << 13) + ((127u - 15u) << 23);
  const uint32_t infnan = (em << 13) | 0x7f800000u;
  // Subnormal: m * 2^-24 computed in float.
  const float sub = static_cast<float>(em) * 5.9604644775390625e-8f;
  const uint32_t subBits = __builtin_bit_cast(uint32_t, sub);
  const uint32_t bits = em >= 0x7c00u ? infnan : (em < 0x0400u ? subBits : normal);
  return __builtin_bit_cast(float, bits | sign);
}

// Float to bf16 bits, round to nearest even; NaN stays a (quiet) NaN.
inline uint16_t f32ToBf16(float f) {
  const uint32_t u = __builtin_bit_cast(uint32_t, f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// Float to IEEE half bits, round to nearest even (overflow to inf, subnormals rounded, NaN kept).
inline uint16_t f32ToF16(float f) {
  const uint32_t u = __builtin_bit_cast(uint32_t, f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u | static_cast<uint16_t>((a >> 13) & 0x3ffu);  // NaN
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: inf
  if (a < 0x38800000u) {
    // Below the smallest normal half (2^-14): adding 0.5 (whose ulp is 2^-24, the subnormal half
    // step) rounds to that grid to nearest even; the low bits are then the half's mantissa.
    const float shifted = __builtin_bit_cast(float, a) + 0.5f;
    return sign | static_cast<uint16_t>(__builtin_bit_cast(uint32_t, shifted) - 0x3f000000u);
  }
  const uint32_t mantOdd = (a >> 13) & 1u;
  const uint32_t r = a + ((15u - 127u) << 23) + 0xfffu + mantOdd;
  return sign | static_cast<uint16_t>(r >> 13);
}

// Trainable rows of a frozen table (new tokens): vocabulary id v with rowOf[v] >= 0 reads row
// rowOf[v] of data [rows, dim] instead of the table, and its gradient goes to grad (when given).
struct TokenRows {
  const int32_t* rowOf = nullptr;  // [V]
  const float* data = nullptr;     // [rows, dim]
  float* grad = nullptr;           // [rows, dim] or null
  int64_t rows = 0;
};

// Reads an optional TokenRows object (nullish: *present = false); checks rowOf covers V, its rows
// are distinct and inside data, and grad matches data.
bool readTokenRows(napi_env env, napi_value v, int64_t V, int64_t dim, const char* fn, TokenRows* r, bool* present);

// dst[0, n) = float32 of the weight's values [start, start + n).
void convertRange(const Weight& w, int64_t start, int64_t n, float* dst);

// A [rows, cols] tile of w ([*, ld] row-major) at (r0, c0) as float32: a pointer into w for f32
// (leading dimension ld, *outLd = ld), else converted into dst (*outLd = cols).
const float* loadTile(const Weight& w, int64_t ld, int64_t r0, int64_t rows, int64_t c0, int64_t cols, float* dst,
                      int64_t* outLd);

}  // namespace sft
