// NF4 dequantization (QLoRA's frozen base) straight into a heap tensor, in the stored [out, in]
// order: BLAS then reads it transposed in place, so no transposed copy is made.
#include "common.h"

using namespace sft;

// nf4Dequantize(codes, absmax, table, out, blockSize): out[i] = table[code i] * absmax[i / blockSize],
// two 4-bit codes per byte, the first in the high nibble.
static napi_value Nf4Dequantize(napi_env env, napi_callback_info info) {
  napi_value a[5];
  if (!args(env, info, 5, a, "nf4Dequantize")) return nullptr;
  uint8_t* codes;
  float *absmax, *table, *out;
  size_t nc, na, nt, n;
  int64_t bs;
  if (!argU8(env, a[0], &codes, &nc, "codes") || !argF32(env, a[1], &absmax, &na, "absmax") ||
      !argF32(env, a[2], &table, &nt, "table") || !argF32(env, a[3], &out, &n, "out") ||
      !argInt(env, a[4], &bs, "blockSize"))
    return nullptr;
  if (nt != 16 || bs < 2 || bs % 2 != 0 || nc * 2 < n || na * static_cast<size_t>(bs) < n) {
    napi_throw_range_error(env, nullptr, "nf4Dequantize: codes, absmax or table do not cover out");
    return nullptr;
  }
  const int64_t blocks = (static_cast<int64_t>(n) + bs - 1) / bs;
  const int64_t per = std::max<int64_t>(1, (1 << 16) / bs);
  parallelFor((blocks + per - 1) / per, [&](int64_t c) {
    const int64_t end = std::min<int64_t>(blocks, (c + 1) * per);
    for (int64_t b = c * per; b < end; b++) {
      const float s = absmax[b];
      const int64_t lo = b * bs, hi = std::min<int64_t>(static_cast<int64_t>(n), lo + bs);
      for (int64_t i = lo; i + 1 < hi; i += 2) {
        const uint8_t byte = codes[i >> 1];
        out[i] = table[byte >> 4] * s;
        out[i + 1] = table[byte & 15] * s;
      }
      if ((hi - lo) & 1) out[hi - 1] = table[codes[(hi - 1) >> 1] >> 4] * s;
    }
  });
  return nullptr;
}

void registerQuant(napi_env env, napi_value exports) { defineFunction(env, exports, "nf4Dequantize", Nf4Dequantize); }
