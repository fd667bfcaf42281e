// The host test add-on: reference.h's loops (math.h's shared kernel arithmetic) callable from vitest,
// built with the host C++ compiler, so CI without a GPU (or nvcc) checks the kernels' math against
// @sftkit/native. Argument order follows @sftkit/native's functions of the same name.
#include "arena.h"
#include "napi_util.h"
#include "reference.h"

using namespace sftc;
using namespace sftc::napi;

#define F32 napi_float32_array
#define I32 napi_int32_array

static napi_value Bf16(napi_env env, napi_callback_info info) {
  // bf16(src: Float32Array, dst: Uint16Array) rounds; bf16(src: Uint16Array, dst: Float32Array) widens.
  napi_value a[2];
  if (!args(env, info, 2, a, "bf16")) return nullptr;
  float* f;
  uint16_t* h;
  size_t nf, nh;
  if (typed(env, a[0], F32, &f, &nf, "src")) {
    if (!typed(env, a[1], napi_uint16_array, &h, &nh, "dst") || !need(env, nh, nf, "dst")) return nullptr;
    for (size_t i = 0; i < nf; i++) h[i] = f32ToBf16(f[i]);
    return nullptr;
  }
  napi_value e;
  napi_get_and_clear_last_exception(env, &e);
  if (!typed(env, a[0], napi_uint16_array, &h, &nh, "src") || !typed(env, a[1], F32, &f, &nf, "dst") ||
      !need(env, nf, nh, "dst"))
    return nullptr;
  for (size_t i = 0; i < nh; i++) f[i] = bf16ToF32(h[i]);
  return nullptr;
}

static napi_value RmsNormForward(napi_env env, napi_callback_info info) {
  napi_value a[7];
  if (!args(env, info, 7, a, "rmsNormForward")) return nullptr;
  float *x, *w, *y, *r;
  size_t nx, nw, ny, nr;
  int64_t rows, dim;
  double eps;
  if (!typed(env, a[0], F32, &x, &nx, "x") || !typed(env, a[1], F32, &w, &nw, "w") ||
      !typed(env, a[2], F32, &y, &ny, "y") || !typed(env, a[3], F32, &r, &nr, "rstd") ||
      !integer(env, a[4], &rows, "rows") || !integer(env, a[5], &dim, "dim") || !num(env, a[6], &eps, "eps") ||
      !need(env, nx, rows * dim, "x") || !need(env, ny, rows * dim, "y") || !need(env, nw, dim, "w") ||
      !need(env, nr, rows, "rstd"))
    return nullptr;
  ref::rmsNormForward(x, w, y, r, rows, dim, eps);
  return nullptr;
}

static napi_value RmsNormBackward(napi_env env, napi_callback_info info) {
  napi_value a[8];
  if (!args(env, info, 8, a, "rmsNormBackward")) return nullptr;
  float *dy, *x, *w, *r, *dx, *dw;
  size_t ndy, nx, nw, nr, ndx, ndw;
  int64_t rows, dim;
  if (!typed(env, a[0], F32, &dy, &ndy, "dy") || !typed(env, a[1], F32, &x, &nx, "x") ||
      !typed(env, a[2], F32, &w, &nw, "w") || !typed(env, a[3], F32, &r, &nr, "rstd") ||
      !typed(env, a[4], F32, &dx, &ndx, "dx") || !typedOrNull(env, a[5], F32, &dw, &ndw, "dw") ||
      !integer(env, a[6], &rows, "rows") || !integer(env, a[7], &dim, "dim") || !need(env, ndy, rows * dim, "dy") ||
      !need(env, nx, rows * dim, "x") || !need(env, ndx, rows * dim, "dx") || !need(env, nw, dim, "w") ||
      !need(env, nr, rows, "rstd") || (dw && !need(env, ndw, dim, "dw")))
    return nullptr;
  ref::rmsNormBackward(dy, x, w, r, dx, dw, rows, dim);
  return nullptr;
}

static napi_value Rope(napi_env env, napi_callback_info info) {
  napi_value a[8];
  if (!args(env, info, 8, a, "rope")) return nullptr;
  float *x, *c, *s, *y;
  size_t nx, nc, ns, ny;
  int64_t T, heads, hd;
  bool inverse;
  if (!typed(env, a[0], F32, &x, &nx, "x") || !typed(env, a[1], F32, &c, &nc, "cos") ||
      !typed(env, a[2], F32, &s, &ns, "sin") || !typed(env, a[3], F32, &y, &ny, "y") ||
      !integer(env, a[4], &T, "T") || !integer(env, a[5], &heads, "heads") || !integer(env, a[6], &hd, "hd") ||
      !boolean(env, a[7], &inverse, "inverse") || !need(env, nx, T * heads * hd, "x") ||
      !need(env, ny, T * heads * hd, "y") || !need(env, nc, T * hd, "cos") || !need(env, ns, T * hd, "sin"))
    return nullptr;
  if (x == y) return fail(env, "rope: the host reference needs y distinct from x"), nullptr;
  ref::rope(x, c, s, y, T, heads, hd, inverse);
  return nullptr;
}

static napi_value SwigluForward(napi_env env, napi_callback_info info) {
  napi_value a[4];
  if (!args(env, info, 4, a, "swigluForward")) return nullptr;
  float *g, *u, *y;
  size_t ng, nu, ny;
  int64_t n;
  if (!typed(env, a[0], F32, &g, &ng, "g") || !typed(env, a[1], F32, &u, &nu, "u") ||
      !typed(env, a[2], F32, &y, &ny, "y") || !integer(env, a[3], &n, "n") || !need(env, ng, n, "g") ||
      !need(env, nu, n, "u") || !need(env, ny, n, "y"))
    return nullptr;
  ref::swigluForward(g, u, y, n);
  return nullptr;
}

static napi_value SwigluBackward(napi_env env, napi_callback_info info) {
  napi_value a[6];
  if (!args(env, info, 6, a, "swigluBackward")) return nullptr;
  float *dy, *g, *u, *dg, *du;
  size_t n1, n2, n3, n4, n5;
  int64_t n;
  if (!typed(env, a[0], F32, &dy, &n1, "dy") || !typed(env, a[1], F32, &g, &n2, "g") ||
      !typed(env, a[2], F32, &u, &n3, "u") || !typed(env, a[3], F32, &dg, &n4, "dg") ||
      !typed(env, a[4], F32, &du, &n5, "du") || !integer(env, a[5], &n, "n") || !need(env, n1, n, "dy") ||
      !need(env, n2, n, "g") || !need(env, n3, n, "u") || !need(env, n4, n, "dg") || !need(env, n5, n, "du"))
    return nullptr;
  ref::swigluBackward(dy, g, u, dg, du, n);
  return nullptr;
}

static bool attnDims(napi_env env, napi_value* a, ref::AttnDims* d, double* scale) {
  int64_t v[6];
  const char* names[6] = {"B", "S", "K", "H", "KV", "hd"};
  for (int i = 0; i < 6; i++)
    if (!integer(env, a[i], &v[i], names[i])) return false;
  if (!num(env, a[6], scale, "scale")) return false;
  *d = {int(v[0]), int(v[1]), int(v[2]), int(v[3]), int(v[4]), int(v[5])};
  if (d->B < 1 || d->S < 1 || d->K < d->S || d->H < 1 || d->KV < 1 || d->hd < 1 || d->H % d->KV != 0)
    return fail(env, "attention: bad dimensions");
  return true;
}

static napi_value AttentionForward(napi_env env, napi_callback_info info) {
  napi_value a[13];
  if (!args(env, info, 13, a, "attentionForward")) return nullptr;
  float *q, *k, *v, *o, *l;
  int32_t* seg;
  size_t nq, nk, nv, ns, no, nl;
  ref::AttnDims d;
  double scale;
  if (!typed(env, a[0], F32, &q, &nq, "q") || !typed(env, a[1], F32, &k, &nk, "k") ||
      !typed(env, a[2], F32, &v, &nv, "v") || !typedOrNull(env, a[3], I32, &seg, &ns, "segments") ||
      !typed(env, a[4], F32, &o, &no, "out") || !typed(env, a[5], F32, &l, &nl, "lse") ||
      !attnDims(env, a + 6, &d, &scale))
    return nullptr;
  const int64_t qn = int64_t(d.B) * d.S * d.H * d.hd, kn = int64_t(d.B) * d.K * d.KV * d.hd;
  if (!need(env, nq, qn, "q") || !need(env, no, qn, "out") || !need(env, nk, kn, "k") || !need(env, nv, kn, "v") ||
      !need(env, nl, int64_t(d.B) * d.H * d.S, "lse") || (seg && !need(env, ns, int64_t(d.B) * d.S, "segments")))
    return nullptr;
  ref::attentionForward(q, k, v, seg, o, l, d, scale);
  return nullptr;
}

static napi_value AttentionBackward(napi_env env, napi_callback_info info) {
  napi_value a[17];
  if (!args(env, info, 17, a, "attentionBackward")) return nullptr;
  float *q, *k, *v, *o, *l, *dout, *dq, *dk, *dv;
  int32_t* seg;
  size_t nq, nk, nv, ns, no, nl, ndo, ndq, ndk, ndv;
  ref::AttnDims d;
  double scale;
  if (!typed(env, a[0], F32, &q, &nq, "q") || !typed(env, a[1], F32, &k, &nk, "k") ||
      !typed(env, a[2], F32, &v, &nv, "v") || !typedOrNull(env, a[3], I32, &seg, &ns, "segments") ||
      !typed(env, a[4], F32, &o, &no, "out") || !typed(env, a[5], F32, &l, &nl, "lse") ||
      !typed(env, a[6], F32, &dout, &ndo, "dout") || !typed(env, a[7], F32, &dq, &ndq, "dq") ||
      !typed(env, a[8], F32, &dk, &ndk, "dk") || !typed(env, a[9], F32, &dv, &ndv, "dv") ||
      !attnDims(env, a + 10, &d, &scale))
    return nullptr;
  const int64_t qn = int64_t(d.B) * d.S * d.H * d.hd, kn = int64_t(d.B) * d.K * d.KV * d.hd;
  if (!need(env, nq, qn, "q") || !need(env, no, qn, "out") || !need(env, ndo, qn, "dout") ||
      !need(env, ndq, qn, "dq") || !need(env, nk, kn, "k") || !need(env, nv, kn, "v") || !need(env, ndk, kn, "dk") ||
      !need(env, ndv, kn, "dv") || !need(env, nl, int64_t(d.B) * d.H * d.S, "lse") ||
      (seg && !need(env, ns, int64_t(d.B) * d.S, "segments")))
    return nullptr;
  ref::attentionBackward(q, k, v, seg, o, l, dout, dq, dk, dv, d, scale);
  return nullptr;
}

static napi_value CrossEntropy(napi_env env, napi_callback_info info) {
  // crossEntropy(logits, targets, rows, V, gradScale, grad | null) -> summed loss
  napi_value a[6];
  if (!args(env, info, 6, a, "crossEntropy")) return nullptr;
  float *lg, *gr;
  int32_t* t;
  size_t nl, nt, ng;
  int64_t rows, V;
  double gs;
  if (!typed(env, a[0], F32, &lg, &nl, "logits") || !typed(env, a[1], I32, &t, &nt, "targets") ||
      !integer(env, a[2], &rows, "rows") || !integer(env, a[3], &V, "V") || !num(env, a[4], &gs, "gradScale") ||
      !typedOrNull(env, a[5], F32, &gr, &ng, "grad") || !need(env, nl, rows * V, "logits") ||
      !need(env, nt, rows, "targets") || (gr && !need(env, ng, rows * V, "grad")))
    return nullptr;
  for (int64_t r = 0; r < rows; r++)
    if (t[r] != -100 && (t[r] < 0 || t[r] >= V)) return fail(env, "crossEntropy: target out of range"), nullptr;
  int64_t count;
  return number(env, ref::crossEntropy(lg, t, rows, V, gs, gr, &count));
}

static napi_value AdamW(napi_env env, napi_callback_info info) {
  // adamwInPlace(p, g, m, v, lr, beta1, beta2, eps, weightDecay, c1, c2, gradScale)
  napi_value a[12];
  if (!args(env, info, 12, a, "adamwInPlace")) return nullptr;
  float *p, *g, *m, *v;
  size_t np, ng, nm, nv;
  double h[8];
  const char* names[8] = {"lr", "beta1", "beta2", "eps", "weightDecay", "c1", "c2", "gradScale"};
  if (!typed(env, a[0], F32, &p, &np, "p") || !typed(env, a[1], F32, &g, &ng, "g") ||
      !typed(env, a[2], F32, &m, &nm, "m") || !typed(env, a[3], F32, &v, &nv, "v"))
    return nullptr;
  for (int i = 0; i < 8; i++)
    if (!num(env, a[4 + i], &h[i], names[i])) return nullptr;
  if (ng != np || nm != np || nv != np) return fail(env, "adamwInPlace: arrays differ in length"), nullptr;
  ref::adamw(p, g, m, v, np, h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
  return nullptr;
}

static napi_value Nf4Dequantize(napi_env env, napi_callback_info info) {
  // nf4Dequantize(codes, absmax | null, absmaxCodes | null, absmaxScales | null, offset, blockSize, out)
  napi_value a[7];
  if (!args(env, info, 7, a, "nf4Dequantize")) return nullptr;
  uint8_t* codes;
  float *absmax, *scales, *out;
  int8_t* acodes;
  size_t nc, na, nac, ns, no;
  double offset;
  int64_t bs;
  if (!typed(env, a[0], napi_uint8_array, &codes, &nc, "codes") ||
      !typedOrNull(env, a[1], F32, &absmax, &na, "absmax") ||
      !typedOrNull(env, a[2], napi_int8_array, &acodes, &nac, "absmaxCodes") ||
      !typedOrNull(env, a[3], F32, &scales, &ns, "absmaxScales") || !num(env, a[4], &offset, "offset") ||
      !integer(env, a[5], &bs, "blockSize") || !typed(env, a[6], F32, &out, &no, "out"))
    return nullptr;
  const int64_t blocks = (int64_t(no) + bs - 1) / bs;
  if (bs < 2 || !need(env, nc * 2, no, "codes")) return nullptr;
  if (absmax ? !need(env, na, blocks, "absmax")
             : (!acodes || !scales) ? fail(env, "nf4Dequantize: absmax or absmaxCodes + absmaxScales needed")
                                    : (!need(env, nac, blocks, "absmaxCodes") ||
                                       !need(env, ns, (blocks + 255) / 256, "absmaxScales")))
    return nullptr;
  ref::nf4Dequantize(codes, absmax, acodes, scales, offset, bs, out, no);
  return nullptr;
}

static napi_value EmbeddingGather(napi_env env, napi_callback_info info) {
  // embeddingGather(table bf16 Uint16Array [V, dim], ids, out, V, dim)
  napi_value a[5];
  if (!args(env, info, 5, a, "embeddingGather")) return nullptr;
  uint16_t* table;
  int32_t* ids;
  float* out;
  size_t nt, ni, no;
  int64_t V, dim;
  if (!typed(env, a[0], napi_uint16_array, &table, &nt, "table") || !typed(env, a[1], I32, &ids, &ni, "ids") ||
      !typed(env, a[2], F32, &out, &no, "out") || !integer(env, a[3], &V, "V") || !integer(env, a[4], &dim, "dim") ||
      !need(env, nt, V * dim, "table") || !need(env, no, int64_t(ni) * dim, "out"))
    return nullptr;
  for (size_t t = 0; t < ni; t++)
    if (ids[t] < 0 || ids[t] >= V) return fail(env, "embeddingGather: id out of range"), nullptr;
  ref::embeddingGather(table, ids, out, ni, dim);
  return nullptr;
}

static napi_value EmbeddingScatterAdd(napi_env env, napi_callback_info info) {
  // embeddingScatterAdd(dy, ids, dTable, V, dim)
  napi_value a[5];
  if (!args(env, info, 5, a, "embeddingScatterAdd")) return nullptr;
  float *dy, *dt;
  int32_t* ids;
  size_t nd, ni, nt;
  int64_t V, dim;
  if (!typed(env, a[0], F32, &dy, &nd, "dy") || !typed(env, a[1], I32, &ids, &ni, "ids") ||
      !typed(env, a[2], F32, &dt, &nt, "dTable") || !integer(env, a[3], &V, "V") ||
      !integer(env, a[4], &dim, "dim") || !need(env, nt, V * dim, "dTable") ||
      !need(env, nd, int64_t(ni) * dim, "dy"))
    return nullptr;
  for (size_t t = 0; t < ni; t++)
    if (ids[t] < 0 || ids[t] >= V) return fail(env, "embeddingScatterAdd: id out of range"), nullptr;
  ref::embeddingScatterAdd(dy, ids, dt, ni, dim);
  return nullptr;
}

// device.cc's arena (arena.h) over offsets, for the tests: arenaNew(capacity) -> handle,
// arenaAlloc(h, bytes) -> offset or -1, arenaFree(h, offset) -> whether a block started there, arenaStats(h).
static bool arenaOf(napi_env env, napi_value v, Arena** out) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) return fail(env, "expected an arena");
  *out = static_cast<Arena*>(p);
  return true;
}

static napi_value ArenaNew(napi_env env, napi_callback_info info) {
  napi_value a[1];
  int64_t capacity;
  if (!args(env, info, 1, a, "arenaNew") || !integer(env, a[0], &capacity, "capacity")) return nullptr;
  napi_value v;
  napi_create_external(
      env, new Arena(size_t(capacity > 0 ? capacity : 0)),
      [](napi_env, void* data, void*) { delete static_cast<Arena*>(data); }, nullptr, &v);
  return v;
}

static napi_value ArenaAlloc(napi_env env, napi_callback_info info) {
  napi_value a[2];
  Arena* arena;
  int64_t bytes;
  if (!args(env, info, 2, a, "arenaAlloc") || !arenaOf(env, a[0], &arena) || !integer(env, a[1], &bytes, "bytes"))
    return nullptr;
  const size_t off = arena->alloc(size_t(bytes > 0 ? bytes : 0));
  napi_value v;
  napi_create_double(env, off == Arena::kNone ? -1.0 : double(off), &v);
  return v;
}

static napi_value ArenaFree(napi_env env, napi_callback_info info) {
  napi_value a[2];
  Arena* arena;
  int64_t off;
  if (!args(env, info, 2, a, "arenaFree") || !arenaOf(env, a[0], &arena) || !integer(env, a[1], &off, "offset"))
    return nullptr;
  napi_value v;
  napi_get_boolean(env, off >= 0 && arena->free(size_t(off)), &v);
  return v;
}

static napi_value ArenaStats(napi_env env, napi_callback_info info) {
  napi_value a[1];
  Arena* arena;
  if (!args(env, info, 1, a, "arenaStats") || !arenaOf(env, a[0], &arena)) return nullptr;
  napi_value o;
  napi_create_object(env, &o);
  const std::pair<const char*, size_t> fields[] = {
      {"capacity", arena->capacity()}, {"inUse", arena->inUse()},         {"peak", arena->peak()},
      {"live", arena->live()},         {"freeBlocks", arena->freeBlocks()}, {"largestFree", arena->largestFree()}};
  for (const auto& [name, value] : fields) {
    napi_value n;
    napi_create_double(env, double(value), &n);
    napi_set_named_property(env, o, name, n);
  }
  return o;
}

static napi_value Init(napi_env env, napi_value exports) {
  define(env, exports, "arenaNew", ArenaNew);
  define(env, exports, "arenaAlloc", ArenaAlloc);
  define(env, exports, "arenaFree", ArenaFree);
  define(env, exports, "arenaStats", ArenaStats);
  define(env, exports, "bf16", Bf16);
  define(env, exports, "rmsNormForward", RmsNormForward);
  define(env, exports, "rmsNormBackward", RmsNormBackward);
  define(env, exports, "rope", Rope);
  define(env, exports, "swigluForward", SwigluForward);
  define(env, exports, "swigluBackward", SwigluBackward);
  define(env, exports, "attentionForward", AttentionForward);
  define(env, exports, "attentionBackward", AttentionBackward);
  define(env, exports, "crossEntropy", CrossEntropy);
  define(env, exports, "adamwInPlace", AdamW);
  define(env, exports, "nf4Dequantize", Nf4Dequantize);
  define(env, exports, "embeddingGather", EmbeddingGather);
  define(env, exports, "embeddingScatterAdd", EmbeddingScatterAdd);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
