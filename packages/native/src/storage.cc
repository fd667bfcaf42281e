// Storage dtypes: reading a NativeWeight, converting ranges and tiles of it to float32, and the
// conversion and embedding kernels (gather rows of a stored table, scatter-add row gradients).
#include "storage.h"

#include <cstring>
#include <string>
#include <vector>

using namespace sft;

namespace {

// bitsandbytes' NF4 code values (as packages/core/src/model/adapters/nf4.ts).
constexpr float NF4_DEFAULT[16] = {-1.0f,
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
constexpr int64_t DQ_BLOCK = 256;

bool property(napi_env env, napi_value obj, const char* name, napi_value* out) {
  bool has = false;
  napi_has_named_property(env, obj, name, &has);
  if (!has) return false;
  napi_get_named_property(env, obj, name, out);
  return !isNullish(env, *out);
}

std::string label(const char* what, const char* field) { return std::string(what) + "." + field; }

// A property that must be there (TypeError "fn: what.name is missing" otherwise).
bool required(napi_env env, napi_value obj, const char* name, const char* what, const char* fn, napi_value* out) {
  if (property(env, obj, name, out)) return true;
  napi_throw_type_error(env, nullptr, (std::string(fn) + ": " + label(what, name) + " is missing").c_str());
  return false;
}

}  // namespace

namespace sft {

bool readWeight(napi_env env, napi_value v, int64_t need, const char* what, const char* fn, Weight* w) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  napi_value dt;
  char dtype[8] = {0};
  size_t dl = 0;
  if (t != napi_object || !property(env, v, "dtype", &dt) ||
      napi_get_value_string_utf8(env, dt, dtype, sizeof dtype, &dl) != napi_ok) {
    napi_throw_type_error(env, nullptr,
                          (std::string(fn) + ": " + what + " must be a weight { dtype, data | codes, ... }").c_str());
    return false;
  }
  const std::string d(dtype, dl);
  napi_value x;
  size_t len = 0;
  if (d == "f32" || d == "bf16" || d == "f16") {
    const std::string field = label(what, "data");
    if (!required(env, v, "data", what, fn, &x)) return false;
    if (d == "f32") {
      w->dtype = Dtype::F32;
      if (!argF32(env, x, const_cast<float**>(&w->f32), &len, field.c_str())) return false;
    } else {
      w->dtype = d == "bf16" ? Dtype::BF16 : Dtype::F16;
      if (!argU16(env, x, const_cast<uint16_t**>(&w->u16), &len, field.c_str())) return false;
    }
    w->count = len;
    return checkLength(env, len, need, field.c_str(), fn);
  }
  if (d != "nf4") {
    napi_throw_type_error(env, nullptr,
                          (std::string(fn) + ": " + what + ".dtype must be f32, bf16, f16 or nf4, got " + d).c_str());
    return false;
  }
  w->dtype = Dtype::NF4;
  std::string field = label(what, "codes");
  if (!required(env, v, "codes", what, fn, &x) ||
      !argU8(env, x, const_cast<uint8_t**>(&w->codes), &len, field.c_str()))
    return false;
  if (!checkLength(env, len * 2, need, field.c_str(), fn)) return false;
  w->count = len * 2;
  napi_value bsv;
  if (!required(env, v, "blockSize", what, fn, &bsv) ||
      !argInt(env, bsv, &w->blockSize, label(what, "blockSize").c_str()))
    return false;
  if (w->blockSize < 2 || w->blockSize % 2 != 0) {
    rangeError(env, fn, label(what, "blockSize") + " must be an even number >= 2");
    return false;
  }
  const int64_t blocks = (need + w->blockSize - 1) / w->blockSize;
  if (property(env, v, "absmax", &x)) {
    field = label(what, "absmax");
    if (!argF32(env, x, const_cast<float**>(&w->absmax), &len, field.c_str()) ||
        !checkLength(env, len, blocks, field.c_str(), fn))
      return false;
  } else {
    napi_value sc;
    field = label(what, "absmaxCodes");
    if (!property(env, v, "absmaxCodes", &x) || !property(env, v, "absmaxScales", &sc)) {
      rangeError(env, fn, std::string(what) + " needs absmax, or absmaxCodes and absmaxScales");
      return false;
    }
    if (!argI8(env, x, const_cast<int8_t**>(&w->absmaxCodes), &len, field.c_str()) ||
        !checkLength(env, len, blocks, field.c_str(), fn))
      return false;
    field = label(what, "absmaxScales");
    if (!argF32(env, sc, const_cast<float**>(&w->absmaxScales), &len, field.c_str()) ||
        !checkLength(env, len, (blocks + DQ_BLOCK - 1) / DQ_BLOCK, field.c_str(), fn))
      return false;
    napi_value off;
    double o = 0;
    if (property(env, v, "absmaxOffset", &off) && !argNum(env, off, &o, label(what, "absmaxOffset").c_str()))
      return false;
    w->absmaxOffset = static_cast<float>(o);
  }
  std::memcpy(w->table, NF4_DEFAULT, sizeof w->table);
  if (property(env, v, "table", &x)) {
    float* tab;
    field = label(what, "table");
    if (!argF32(env, x, &tab, &len, field.c_str())) return false;
    if (len != 16) {
      rangeError(env, fn, field + " must hold 16 values");
      return false;
    }
    std::memcpy(w->table, tab, sizeof w->table);
  }
  return true;
}

bool readTokenRows(napi_env env, napi_value v, int64_t V, int64_t dim, const char* fn, TokenRows* r, bool* present) {
  *present = false;
  if (isNullish(env, v)) return true;
  napi_value x;
  size_t len, ld, lg;
  int32_t* rowOf;
  float* data;
  if (!required(env, v, "rowOf", "rows", fn, &x) || !argI32Array(env, x, &rowOf, &len, "rows.rowOf") ||
      !checkLength(env, len, V, "rows.rowOf", fn) || !required(env, v, "data", "rows", fn, &x) ||
      !argF32(env, x, &data, &ld, "rows.data"))
    return false;
  r->rowOf = rowOf;
  r->data = data;
  r->rows = static_cast<int64_t>(ld) / dim;
  r->grad = nullptr;
  if (property(env, v, "grad", &x) &&
      (!argF32(env, x, &r->grad, &lg, "rows.grad") || !checkLength(env, lg, r->rows * dim, "rows.grad", fn)))
    return false;
  std::vector<uint8_t> seen(r->rows, 0);
  for (int64_t i = 0; i < V; i++) {
    const int32_t k = rowOf[i];
    if (k < 0) continue;
    if (k >= r->rows || seen[k]) {
      rangeError(env, fn,
                 "rows.rowOf[" + std::to_string(i) + "] = " + std::to_string(k) +
                     (k >= r->rows ? " is past rows.data's " + std::to_string(r->rows) + " rows" : " is used twice"));
      return false;
    }
    seen[k] = 1;
  }
  *present = true;
  return true;
}

void convertRange(const Weight& w, int64_t start, int64_t n, float* dst) {
  switch (w.dtype) {
    case Dtype::F32:
      std::memcpy(dst, w.f32 + start, n * sizeof(float));
      return;
    case Dtype::BF16: {
      const uint16_t* s = w.u16 + start;
#pragma omp simd
      for (int64_t i = 0; i < n; i++) dst[i] = bf16ToF32(s[i]);
      return;
    }
    case Dtype::F16: {
      const uint16_t* s = w.u16 + start;
#pragma omp simd
      for (int64_t i = 0; i < n; i++) dst[i] = f16ToF32(s[i]);
      return;
    }
    case Dtype::NF4: {
      const int64_t end = start + n, bs = w.blockSize;
      for (int64_t i = start; i < end;) {
        const int64_t b = i / bs, stop = std::min(end, (b + 1) * bs);
        const float s = w.absmax ? w.absmax[b] : w.absmaxCodes[b] * w.absmaxScales[b / DQ_BLOCK] + w.absmaxOffset;
        for (; i < stop; i++) {
          const uint8_t byte = w.codes[i >> 1];
          dst[i - start] = w.table[(i & 1) ? (byte & 15) : (byte >> 4)] * s;
        }
      }
      return;
    }
  }
}

const float* loadTile(const Weight& w, int64_t ld, int64_t r0, int64_t rows, int64_t c0, int64_t cols, float* dst,
                      int64_t* outLd) {
  if (w.dtype == Dtype::F32) {
    *outLd = ld;
    return w.f32 + r0 * ld + c0;
  }
  *outLd = cols;
  if (cols == ld) {
    convertRange(w, r0 * ld, rows * cols, dst);
  } else {
    for (int64_t r = 0; r < rows; r++) convertRange(w, (r0 + r) * ld + c0, cols, dst + r * cols);
  }
  return dst;
}

}  // namespace sft

namespace {

bool readHalfDtype(napi_env env, napi_value v, Dtype* out, const char* fn) {
  char s[8] = {0};
  size_t l = 0;
  if (napi_get_value_string_utf8(env, v, s, sizeof s, &l) == napi_ok) {
    const std::string d(s, l);
    if (d == "bf16" || d == "f16") {
      *out = d == "bf16" ? Dtype::BF16 : Dtype::F16;
      return true;
    }
  }
  napi_throw_type_error(env, nullptr, (std::string(fn) + ": dtype must be \"bf16\" or \"f16\"").c_str());
  return false;
}

constexpr int64_t CHUNK = 1 << 16;

// toFloat32(src, dtype, dst)
napi_value ToFloat32(napi_env env, napi_callback_info info) {
  const char* fn = "toFloat32";
  napi_value a[3];
  if (!args(env, info, 3, a, fn)) return nullptr;
  uint16_t* src;
  float* dst;
  size_t n, nd;
  Dtype dt;
  if (!argU16(env, a[0], &src, &n, "src") || !readHalfDtype(env, a[1], &dt, fn) ||
      !argF32(env, a[2], &dst, &nd, "dst") || !checkLength(env, nd, n, "dst", fn))
    return nullptr;
  Weight w;
  w.dtype = dt;
  w.u16 = src;
  w.count = n;
  const int64_t total = static_cast<int64_t>(n);
  parallelFor((total + CHUNK - 1) / CHUNK, [&](int64_t c) {
    const int64_t lo = c * CHUNK;
    convertRange(w, lo, std::min(total, lo + CHUNK) - lo, dst + lo);
  });
  return nullptr;
}

// fromFloat32(src, dtype, dst)
napi_value FromFloat32(napi_env env, napi_callback_info info) {
  const char* fn = "fromFloat32";
  napi_value a[3];
  if (!args(env, info, 3, a, fn)) return nullptr;
  float* src;
  uint16_t* dst;
  size_t n, nd;
  Dtype dt;
  if (!argF32(env, a[0], &src, &n, "src") || !readHalfDtype(env, a[1], &dt, fn) ||
      !argU16(env, a[2], &dst, &nd, "dst") || !checkLength(env, nd, n, "dst", fn))
    return nullptr;
  const int64_t total = static_cast<int64_t>(n);
  parallelFor((total + CHUNK - 1) / CHUNK, [&](int64_t c) {
    const int64_t lo = c * CHUNK, hi = std::min(total, lo + CHUNK);
    if (dt == Dtype::BF16) {
      for (int64_t i = lo; i < hi; i++) dst[i] = f32ToBf16(src[i]);
    } else {
      for (int64_t i = lo; i < hi; i++) dst[i] = f32ToF16(src[i]);
    }
  });
  return nullptr;
}

bool checkIds(napi_env env, const int32_t* ids, size_t n, int64_t V, const char* fn) {
  for (size_t t = 0; t < n; t++) {
    if (ids[t] < 0 || ids[t] >= V) {
      rangeError(env, fn,
                 "ids[" + std::to_string(t) + "] = " + std::to_string(ids[t]) + " is outside [0, " + std::to_string(V) +
                     ")");
      return false;
    }
  }
  return true;
}

// embeddingGather(table, ids, out, V, dim, rows?)
napi_value EmbeddingGather(napi_env env, napi_callback_info info) {
  const char* fn = "embeddingGather";
  napi_value a[6];
  if (!argsOptional(env, info, 5, 6, a, fn)) return nullptr;
  int32_t* ids;
  float* out;
  size_t n, no;
  int64_t V, dim;
  Weight w;
  if (!argInt(env, a[3], &V, "V") || !argInt(env, a[4], &dim, "dim")) return nullptr;
  if (V < 1 || dim < 1) return rangeError(env, fn, "V and dim must be >= 1"), nullptr;
  if (!readWeight(env, a[0], V * dim, "table", fn, &w) || !argI32Array(env, a[1], &ids, &n, "ids") ||
      !argF32(env, a[2], &out, &no, "out") || !checkLength(env, no, static_cast<int64_t>(n) * dim, "out", fn) ||
      !checkIds(env, ids, n, V, fn))
    return nullptr;
  TokenRows rows;
  bool hasRows;
  if (!readTokenRows(env, a[5], V, dim, fn, &rows, &hasRows)) return nullptr;
  parallelFor(static_cast<int64_t>(n), [&](int64_t t) {
    const int32_t k = hasRows ? rows.rowOf[ids[t]] : -1;
    if (k >= 0)
      std::copy_n(rows.data + k * dim, dim, out + t * dim);
    else
      convertRange(w, ids[t] * dim, dim, out + t * dim);
  });
  return nullptr;
}

// embeddingScatterAdd(dy, ids, dTable, V, dim, rowOf)
napi_value EmbeddingScatterAdd(napi_env env, napi_callback_info info) {
  const char* fn = "embeddingScatterAdd";
  napi_value a[6];
  if (!args(env, info, 6, a, fn)) return nullptr;
  float *dy, *dt;
  int32_t *ids, *rowOf = nullptr;
  size_t ny, n, nt, nr = 0;
  int64_t V, dim;
  if (!argF32(env, a[0], &dy, &ny, "dy") || !argI32Array(env, a[1], &ids, &n, "ids") ||
      !argF32(env, a[2], &dt, &nt, "dTable") || !argInt(env, a[3], &V, "V") || !argInt(env, a[4], &dim, "dim") ||
      (!isNullish(env, a[5]) && !argI32Array(env, a[5], &rowOf, &nr, "rowOf")))
    return nullptr;
  if (V < 1 || dim < 1) return rangeError(env, fn, "V and dim must be >= 1"), nullptr;
  const int64_t rows = static_cast<int64_t>(nt) / dim;
  if (!checkLength(env, ny, static_cast<int64_t>(n) * dim, "dy", fn) || !checkIds(env, ids, n, V, fn) ||
      (rowOf && !checkLength(env, nr, V, "rowOf", fn)))
    return nullptr;
  if (!rowOf && !checkLength(env, nt, V * dim, "dTable", fn)) return nullptr;
  if (rowOf) {
    for (int64_t i = 0; i < V; i++)
      if (rowOf[i] >= rows)
        return rangeError(env, fn, "rowOf[" + std::to_string(i) + "] = " + std::to_string(rowOf[i]) +
                                       " is past dTable's " + std::to_string(rows) + " rows"),
               nullptr;
  }
  // Columns split across threads: two tokens of one id never race.
  constexpr int64_t COLS = 64;
  const int64_t chunks = (dim + COLS - 1) / COLS;
  parallelFor(chunks, [&](int64_t c) {
    const int64_t c0 = c * COLS, c1 = std::min(dim, c0 + COLS);
    for (size_t t = 0; t < n; t++) {
      const int64_t r = rowOf ? rowOf[ids[t]] : ids[t];
      if (r < 0) continue;
      float* d = dt + r * dim;
      const float* g = dy + t * dim;
#pragma omp simd
      for (int64_t j = c0; j < c1; j++) d[j] += g[j];
    }
  });
  return nullptr;
}

}  // namespace

void registerStorage(napi_env env, napi_value exports) {
  defineFunction(env, exports, "toFloat32", ToFloat32);
  defineFunction(env, exports, "fromFloat32", FromFloat32);
  defineFunction(env, exports, "embeddingGather", EmbeddingGather);
  defineFunction(env, exports, "embeddingScatterAdd", EmbeddingScatterAdd);
}
