// The device ops the cuda engine's step is composed of (packages/core/src/engines/cuda/ops.ts): buffers
// as N-API externals over device memory, sub-allocated from one arena the engine reserves at run start
// (arena.h; sized from the plan's memory model), else from a caching allocator over cudaMalloc (tallied
// together: in use and peak), uploads and downloads, and one binding per kernel launcher and cuBLASLt
// GEMM, all on one stream.
#include "device.h"

#include <cuda_runtime.h>

#include <map>
#include <string>
#include <vector>

#include "arena.h"
#include "kernels.h"
#include "napi_util.h"
#include "ops.h"

namespace sftc {
namespace {

using namespace sftc::napi;

// One reserved range: its offsets handed out by Arena. A replaced arena is retired and handed back to
// the driver when its last block is freed.
struct Reserved {
  void* base = nullptr;
  Arena arena;
  bool retired = false;
  explicit Reserved(void* b, size_t bytes) : base(b), arena(bytes) {}
};

struct DevBuf {
  void* ptr = nullptr;
  size_t bytes = 0;  // rounded (owned) or the view's size
  bool owned = false;
  bool freed = false;
  Reserved* from = nullptr;  // the arena it was sub-allocated from (null: its own cudaMalloc)
};

struct State {
  bool ready = false;
  cudaStream_t stream = nullptr;
  void* workspace = nullptr;
  size_t workspaceBytes = 32u << 20;
  double* scalar = nullptr;
  double* sums = nullptr;  // sumSquaresMany's results, one per buffer
  size_t sumsCap = 0;
  std::multimap<size_t, void*> pool;  // freed blocks (outside the arena) by size, reused before cudaMalloc
  size_t inUse = 0, peak = 0, pooled = 0;
  Reserved* arena = nullptr;  // the arena allocations come from (null: none reserved)
  size_t outside = 0;         // bytes in use outside it (none reserved, or it was full)
  rt::Lt** lt = nullptr;
};
State S;

bool cudaOk(napi_env env, cudaError_t e, const char* what) {
  if (e == cudaSuccess) return true;
  return fail(env, std::string(what) + ": " + cudaGetErrorString(e));
}

bool launched(napi_env env, const char* what) { return cudaOk(env, cudaGetLastError(), what); }

void retire(Reserved* r) {
  r->retired = true;
  if (r->arena.live() > 0) return;
  cudaStreamSynchronize(S.stream);
  cudaFree(r->base);
  delete r;
}

void release(DevBuf* b) {
  if (!b->owned || b->freed) return;
  b->freed = true;
  S.inUse -= b->bytes;
  if (b->from) {
    b->from->arena.free(size_t(static_cast<char*>(b->ptr) - static_cast<char*>(b->from->base)));
    if (b->from->retired && b->from->arena.live() == 0) retire(b->from);
    return;
  }
  S.outside -= b->bytes;
  S.pool.emplace(b->bytes, b->ptr);
  S.pooled += b->bytes;
}

void dropPool() {
  cudaStreamSynchronize(S.stream);
  for (auto& [s, q] : S.pool) cudaFree(q);
  S.pool.clear();
  S.pooled = 0;
}

void finalize(napi_env, void* data, void*) {
  auto* b = static_cast<DevBuf*>(data);
  if (S.ready) release(b);
  delete b;
}

napi_value wrap(napi_env env, DevBuf* b) {
  napi_value v;
  napi_create_external(env, b, finalize, nullptr, &v);
  return v;
}

bool buf(napi_env env, napi_value v, DevBuf** out, const char* what) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) return fail(env, std::string(what) + ": expected a device buffer");
  *out = static_cast<DevBuf*>(p);
  if ((*out)->freed) return fail(env, std::string(what) + ": the buffer was freed");
  return true;
}
bool bufOrNull(napi_env env, napi_value v, DevBuf** out, const char* what) {
  if (isNullish(env, v)) {
    *out = nullptr;
    return true;
  }
  return buf(env, v, out, what);
}
template <typename T>
T* P(DevBuf* b) {
  return b ? static_cast<T*>(b->ptr) : nullptr;
}

bool ready(napi_env env) { return S.ready || fail(env, "cuda device: init() first"); }

// Reads `n` arguments: device buffers, numbers and booleans, by a one-letter pattern (b = buffer,
// o = buffer or null, i = integer, f = number, t = boolean).
struct Args {
  DevBuf* b[12] = {};
  int64_t i[8] = {};
  double f[12] = {};
  bool t[4] = {};
};
bool read(napi_env env, napi_callback_info info, const char* pattern, Args* a, const char* fn) {
  napi_value v[24];
  const size_t n = std::char_traits<char>::length(pattern);
  if (!ready(env) || !args(env, info, n, v, fn)) return false;
  int nb = 0, ni = 0, nf = 0, nt = 0;
  for (size_t k = 0; k < n; k++) {
    bool ok = true;
    switch (pattern[k]) {
      case 'b': ok = buf(env, v[k], &a->b[nb++], fn); break;
      case 'o': ok = bufOrNull(env, v[k], &a->b[nb++], fn); break;
      case 'i': ok = integer(env, v[k], &a->i[ni++], fn); break;
      case 'f': ok = num(env, v[k], &a->f[nf++], fn); break;
      case 't': ok = boolean(env, v[k], &a->t[nt++], fn); break;
    }
    if (!ok) return false;
  }
  return true;
}

napi_value Init(napi_env env, napi_callback_info) {
  if (!S.ready) {
    if (!cudaOk(env, cudaSetDevice(0), "cudaSetDevice") ||
        !cudaOk(env, cudaStreamCreateWithFlags(&S.stream, cudaStreamNonBlocking), "cudaStreamCreate") ||
        !cudaOk(env, cudaMalloc(&S.workspace, S.workspaceBytes), "cudaMalloc (cuBLASLt workspace)") ||
        !cudaOk(env, cudaMalloc(reinterpret_cast<void**>(&S.scalar), sizeof(double)), "cudaMalloc"))
      return nullptr;
    S.ready = true;
  }
  napi_value b;
  napi_get_boolean(env, *S.lt != nullptr, &b);
  return b;
}

// alloc(bytes, zeroed = true): `zeroed` false skips the memset (the caller's next op writes it whole).
napi_value Alloc(napi_env env, napi_callback_info info) {
  napi_value v[2];
  size_t argc = 2;
  int64_t bytes;
  bool zeroed = true;
  napi_get_cb_info(env, info, &argc, v, nullptr, nullptr);
  if (!ready(env)) return nullptr;  // (it threw)
  if (argc < 1) return fail(env, "alloc: expected 1 argument"), nullptr;
  if (!integer(env, v[0], &bytes, "alloc")) return nullptr;
  if (argc > 1 && !isNullish(env, v[1]) && !boolean(env, v[1], &zeroed, "alloc")) return nullptr;
  const size_t size = Arena::rounded(size_t(bytes > 0 ? bytes : 1));
  void* p = nullptr;
  Reserved* from = nullptr;
  // The arena first; a block it cannot hold (the plan's estimate was short) comes from cudaMalloc.
  const size_t off = S.arena ? S.arena->arena.alloc(size) : Arena::kNone;
  auto it = S.pool.find(size);
  if (off != Arena::kNone) {
    from = S.arena;
    p = static_cast<char*>(from->base) + off;
  } else if (it != S.pool.end()) {
    p = it->second;
    S.pool.erase(it);
    S.pooled -= size;
  } else if (cudaMalloc(&p, size) != cudaSuccess) {
    cudaGetLastError();
    // Out of memory: hand the cached blocks back to the driver and try once more.
    dropPool();
    if (!cudaOk(env, cudaMalloc(&p, size),
                S.arena ? "cudaMalloc (beyond the reserved arena: the plan's memory estimate is short)"
                        : "cudaMalloc"))
      return nullptr;
  }
  if (zeroed && !cudaOk(env, cudaMemsetAsync(p, 0, size, S.stream), "cudaMemsetAsync")) {
    if (from) from->arena.free(off);
    return nullptr;
  }
  S.inUse += size;
  if (!from) S.outside += size;
  if (S.inUse > S.peak) S.peak = S.inUse;
  return wrap(env, new DevBuf{p, size, true, false, from});
}

// reserve(bytes): one cudaMalloc of `bytes` that later allocations are sub-allocated from (0: none). The
// arena it replaces goes back to the driver once its last block is freed. Throws, having reserved
// nothing, when the GPU's free memory (cached blocks handed back first) cannot hold it.
napi_value Reserve(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "i", &a, "reserve")) return nullptr;
  if (S.arena) {
    Reserved* old = S.arena;
    S.arena = nullptr;
    retire(old);
  }
  if (a.i[0] <= 0) return nullptr;
  const size_t bytes = Arena::rounded(size_t(a.i[0]));
  // Left beside the arena: cuBLASLt's handle (made at the first GEMM) and the stream-ordered temporaries
  // (rope's in-place copy, the loss's rows).
  constexpr size_t kBeside = size_t(256) << 20;
  dropPool();
  size_t freeB = 0, total = 0;
  cudaMemGetInfo(&freeB, &total);
  void* base = nullptr;
  if (bytes + kBeside > freeB || cudaMalloc(&base, bytes) != cudaSuccess) {
    cudaGetLastError();
    return fail(env, "reserve: " + std::to_string(bytes) + " B and 256 MiB beside them do not fit the GPU's " +
                         std::to_string(freeB) + " B free (of " + std::to_string(total) + " B)"),
           nullptr;
  }
  S.arena = new Reserved(base, bytes);
  return nullptr;
}

napi_value View(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bii", &a, "view")) return nullptr;
  if (a.i[0] < 0 || size_t(a.i[0] + a.i[1]) > a.b[0]->bytes) return fail(env, "view: out of range"), nullptr;
  return wrap(env, new DevBuf{static_cast<char*>(a.b[0]->ptr) + a.i[0], size_t(a.i[1]), false, false});
}

napi_value Free(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "b", &a, "free")) return nullptr;
  release(a.b[0]);
  return nullptr;
}

// upload(buf, typedArray) / download(buf, typedArray): whole byte ranges, synchronous.
napi_value Copy(napi_env env, napi_callback_info info, bool up) {
  napi_value v[2];
  if (!ready(env) || !args(env, info, 2, v, up ? "upload" : "download")) return nullptr;
  DevBuf* b;
  if (!buf(env, v[0], &b, "copy")) return nullptr;
  napi_typedarray_type type;
  size_t len, off;
  void* data;
  napi_value ab;
  if (napi_get_typedarray_info(env, v[1], &type, &len, &data, &ab, &off) != napi_ok)
    return fail(env, "copy: expected a typed array"), nullptr;
  size_t el = type == napi_float32_array || type == napi_int32_array ? 4 : type == napi_uint16_array ? 2 : 1;
  const size_t bytes = len * el;
  if (bytes > b->bytes) return fail(env, "copy: the array is larger than the buffer"), nullptr;
  const cudaError_t e = up ? cudaMemcpyAsync(b->ptr, data, bytes, cudaMemcpyHostToDevice, S.stream)
                           : cudaMemcpyAsync(data, b->ptr, bytes, cudaMemcpyDeviceToHost, S.stream);
  if (!cudaOk(env, e, "cudaMemcpyAsync") || !cudaOk(env, cudaStreamSynchronize(S.stream), "cudaStreamSynchronize"))
    return nullptr;
  return nullptr;
}
napi_value Upload(napi_env env, napi_callback_info info) { return Copy(env, info, true); }
napi_value Download(napi_env env, napi_callback_info info) { return Copy(env, info, false); }

napi_value Zero(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "b", &a, "zero")) return nullptr;
  cudaOk(env, cudaMemsetAsync(a.b[0]->ptr, 0, a.b[0]->bytes, S.stream), "cudaMemsetAsync");
  return nullptr;
}

napi_value Memory(napi_env env, napi_callback_info) {
  size_t freeB = 0, total = 0;
  if (S.ready) cudaMemGetInfo(&freeB, &total);
  napi_value o;
  napi_create_object(env, &o);
  set(env, o, "inUse", number(env, double(S.inUse)));
  set(env, o, "peak", number(env, double(S.peak)));
  set(env, o, "pooled", number(env, double(S.pooled)));
  set(env, o, "reserved", number(env, double(S.arena ? S.arena->arena.capacity() : 0)));
  set(env, o, "arenaInUse", number(env, double(S.arena ? S.arena->arena.inUse() : 0)));
  set(env, o, "arenaLargestFree", number(env, double(S.arena ? S.arena->arena.largestFree() : 0)));
  set(env, o, "outside", number(env, double(S.outside)));
  set(env, o, "deviceFree", number(env, double(freeB)));
  set(env, o, "deviceTotal", number(env, double(total)));
  return o;
}

napi_value ResetPeak(napi_env, napi_callback_info) {
  S.peak = S.inUse;
  return nullptr;
}

napi_value Sync(napi_env env, napi_callback_info) {
  if (ready(env)) cudaOk(env, cudaStreamSynchronize(S.stream), "cudaStreamSynchronize");
  return nullptr;
}

napi_value ToBf16(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbi", &a, "toBf16")) return nullptr;
  gpu::f32ToBf16(P<float>(a.b[0]), P<uint16_t>(a.b[1]), a.i[0], S.stream);
  launched(env, "toBf16");
  return nullptr;
}

// gemm(ta, tb, M, N, K, A, B, C, alpha, beta, f32): A and B bf16, or both f32 when `f32`.
napi_value Gemm(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "ttiiibbbfft", &a, "gemm")) return nullptr;
  if (!*S.lt) return fail(env, "gemm: cuBLASLt is not open"), nullptr;
  const std::string err = rt::gemm(*S.lt, a.t[2] ? CUDA_R_32F : CUDA_R_16BF, a.t[0], a.t[1], int(a.i[0]),
                                   int(a.i[1]), int(a.i[2]), a.b[0]->ptr, a.b[1]->ptr, a.b[2]->ptr, false,
                                   float(a.f[0]), float(a.f[1]), S.workspace, S.workspaceBytes, S.stream);
  if (!err.empty()) fail(env, "gemm: " + err);
  return nullptr;
}

napi_value RmsNormForward(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbbbiif", &a, "rmsNormForward")) return nullptr;
  gpu::rmsNormForward(P<float>(a.b[0]), P<float>(a.b[1]), P<float>(a.b[2]), P<float>(a.b[3]), a.i[0], int(a.i[1]),
                      float(a.f[0]), S.stream);
  launched(env, "rmsNormForward");
  return nullptr;
}

napi_value RmsNormBackward(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbbbboii", &a, "rmsNormBackward")) return nullptr;
  gpu::rmsNormBackward(P<float>(a.b[0]), P<float>(a.b[1]), P<float>(a.b[2]), P<float>(a.b[3]), P<float>(a.b[4]),
                       P<float>(a.b[5]), a.i[0], int(a.i[1]), S.stream);
  launched(env, "rmsNormBackward");
  return nullptr;
}

napi_value Rope(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbbbiiit", &a, "rope")) return nullptr;
  const float* x = P<float>(a.b[0]);
  float* y = P<float>(a.b[3]);
  const size_t bytes = size_t(a.i[0]) * a.i[1] * a.i[2] * sizeof(float);
  void* tmp = nullptr;
  // The kernel reads each row's partner values: in place, it reads a copy.
  if (x == y) {
    if (!cudaOk(env, cudaMallocAsync(&tmp, bytes, S.stream), "cudaMallocAsync") ||
        !cudaOk(env, cudaMemcpyAsync(tmp, x, bytes, cudaMemcpyDeviceToDevice, S.stream), "cudaMemcpyAsync"))
      return nullptr;
    x = static_cast<const float*>(tmp);
  }
  gpu::rope(x, P<float>(a.b[1]), P<float>(a.b[2]), y, a.i[0], int(a.i[1]), int(a.i[2]), a.t[0], S.stream);
  launched(env, "rope");
  if (tmp) cudaFreeAsync(tmp, S.stream);
  return nullptr;
}

napi_value SwigluForward(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbbi", &a, "swigluForward")) return nullptr;
  gpu::swigluForward(P<float>(a.b[0]), P<float>(a.b[1]), P<float>(a.b[2]), a.i[0], S.stream);
  launched(env, "swigluForward");
  return nullptr;
}

napi_value SwigluBackward(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbbbbi", &a, "swigluBackward")) return nullptr;
  gpu::swigluBackward(P<float>(a.b[0]), P<float>(a.b[1]), P<float>(a.b[2]), P<float>(a.b[3]), P<float>(a.b[4]),
                      a.i[0], S.stream);
  launched(env, "swigluBackward");
  return nullptr;
}

gpu::AttnDims dims(const int64_t* i) { return {int(i[0]), int(i[1]), int(i[2]), int(i[3]), int(i[4]), int(i[5])}; }

// attentionForward(q, k, v, seg, out, lse, B, S, K, H, KV, hd, scale)
napi_value AttentionForward(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbbobbiiiiiif", &a, "attentionForward")) return nullptr;
  if (a.i[5] > gpu::kMaxHeadDim) return fail(env, "attention: head dim over 256"), nullptr;
  gpu::attentionForward(P<float>(a.b[0]), P<float>(a.b[1]), P<float>(a.b[2]), P<int32_t>(a.b[3]), P<float>(a.b[4]),
                        P<float>(a.b[5]), dims(a.i), float(a.f[0]), S.stream);
  launched(env, "attentionForward");
  return nullptr;
}

// attentionBackward(q, k, v, seg, out, lse, dout, dq, dk, dv, B, S, K, H, KV, hd, scale): all written.
napi_value AttentionBackward(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbbobbbbbbiiiiiif", &a, "attentionBackward")) return nullptr;
  cudaMemsetAsync(a.b[8]->ptr, 0, a.b[8]->bytes, S.stream);
  cudaMemsetAsync(a.b[9]->ptr, 0, a.b[9]->bytes, S.stream);
  gpu::attentionBackward(P<float>(a.b[0]), P<float>(a.b[1]), P<float>(a.b[2]), P<int32_t>(a.b[3]),
                         P<float>(a.b[4]), P<float>(a.b[5]), P<float>(a.b[6]), P<float>(a.b[7]), P<float>(a.b[8]),
                         P<float>(a.b[9]), dims(a.i), float(a.f[0]), S.stream);
  launched(env, "attentionBackward");
  return nullptr;
}

// crossEntropy(logits, targets, rows, V, gradScale, grad) -> summed loss
napi_value CrossEntropy(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbiifo", &a, "crossEntropy")) return nullptr;
  const int64_t rows = a.i[0];
  float* rowLoss = nullptr;
  if (!cudaOk(env, cudaMallocAsync(reinterpret_cast<void**>(&rowLoss), rows * sizeof(float), S.stream),
              "cudaMallocAsync"))
    return nullptr;
  gpu::crossEntropy(P<float>(a.b[0]), P<int32_t>(a.b[1]), rows, int(a.i[1]), float(a.f[0]), rowLoss,
                    P<float>(a.b[2]), S.stream);
  if (!launched(env, "crossEntropy")) return nullptr;
  std::vector<float> host(rows);
  cudaMemcpyAsync(host.data(), rowLoss, rows * sizeof(float), cudaMemcpyDeviceToHost, S.stream);
  cudaFreeAsync(rowLoss, S.stream);
  if (!cudaOk(env, cudaStreamSynchronize(S.stream), "crossEntropy")) return nullptr;
  double total = 0;
  for (float l : host) total += l;
  return number(env, total);
}

// crossEntropyRows(logits, targets, rows, V, gradScale, grad, rowLoss): each row's loss into rowLoss on the
// device, no read-back (the step reads all rows once at its end).
napi_value CrossEntropyRows(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbiifob", &a, "crossEntropyRows")) return nullptr;
  if (a.i[0] < 0 || a.b[3]->bytes < size_t(a.i[0]) * sizeof(float))
    return fail(env, "crossEntropyRows: rowLoss too small"), nullptr;
  gpu::crossEntropy(P<float>(a.b[0]), P<int32_t>(a.b[1]), a.i[0], int(a.i[1]), float(a.f[0]), P<float>(a.b[3]),
                    P<float>(a.b[2]), S.stream);
  launched(env, "crossEntropyRows");
  return nullptr;
}

// adamw(p, g, m, v, n, lr, b1, b2, eps, wd, c1, c2, gradScale)
napi_value AdamW(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbbbiffffffff", &a, "adamw")) return nullptr;
  const double* f = a.f;
  gpu::adamw(P<float>(a.b[0]), P<float>(a.b[1]), P<float>(a.b[2]), P<float>(a.b[3]), a.i[0],
             float(f[0]), float(f[1]), float(f[2]), float(f[3]), float(f[4]), float(f[5]), float(f[6]), float(f[7]),
             S.stream);
  launched(env, "adamw");
  return nullptr;
}

// nf4Dequantize(codes, absmax, absmaxCodes, absmaxScales, offset, blockSize, outBf16, n)
napi_value Nf4Dequantize(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "booofibi", &a, "nf4Dequantize")) return nullptr;
  gpu::nf4Dequantize(P<uint8_t>(a.b[0]), P<float>(a.b[1]), P<int8_t>(a.b[2]), P<float>(a.b[3]), float(a.f[0]),
                     int(a.i[0]), nullptr, P<uint16_t>(a.b[4]), a.i[1], S.stream);
  launched(env, "nf4Dequantize");
  return nullptr;
}

napi_value EmbeddingGather(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbbii", &a, "embeddingGather")) return nullptr;
  gpu::embeddingGather(P<uint16_t>(a.b[0]), P<int32_t>(a.b[1]), P<float>(a.b[2]), a.i[0], int(a.i[1]), S.stream);
  launched(env, "embeddingGather");
  return nullptr;
}

napi_value EmbeddingScatterAdd(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbbii", &a, "embeddingScatterAdd")) return nullptr;
  gpu::embeddingScatterAdd(P<float>(a.b[0]), P<int32_t>(a.b[1]), P<float>(a.b[2]), a.i[0], int(a.i[1]), S.stream);
  launched(env, "embeddingScatterAdd");
  return nullptr;
}

napi_value Copy2(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbi", &a, "copy")) return nullptr;
  // Owned buffers are rounded up: the byte count is the caller's, checked against both.
  const size_t bytes = size_t(a.i[0]);
  if (a.i[0] < 0 || bytes > a.b[0]->bytes || bytes > a.b[1]->bytes) return fail(env, "copy: out of range"), nullptr;
  cudaOk(env, cudaMemcpyAsync(a.b[0]->ptr, a.b[1]->ptr, bytes, cudaMemcpyDeviceToDevice, S.stream),
         "cudaMemcpyAsync");
  return nullptr;
}

napi_value Axpy(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbfi", &a, "axpy")) return nullptr;
  gpu::axpy(P<float>(a.b[0]), P<float>(a.b[1]), float(a.f[0]), a.i[0], S.stream);
  launched(env, "axpy");
  return nullptr;
}

napi_value AddBias(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbii", &a, "addBias")) return nullptr;
  gpu::addBias(P<float>(a.b[0]), P<float>(a.b[1]), a.i[0], int(a.i[1]), S.stream);
  launched(env, "addBias");
  return nullptr;
}

napi_value BiasGrad(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bbii", &a, "biasGrad")) return nullptr;
  gpu::biasGrad(P<float>(a.b[0]), P<float>(a.b[1]), a.i[0], int(a.i[1]), S.stream);
  launched(env, "biasGrad");
  return nullptr;
}

napi_value SumSquares(napi_env env, napi_callback_info info) {
  Args a;
  if (!read(env, info, "bi", &a, "sumSquares")) return nullptr;
  gpu::sumSquares(P<float>(a.b[0]), a.i[0], S.scalar, S.stream);
  double out = 0;
  if (!launched(env, "sumSquares") ||
      !cudaOk(env, cudaMemcpyAsync(&out, S.scalar, sizeof out, cudaMemcpyDeviceToHost, S.stream), "sumSquares") ||
      !cudaOk(env, cudaStreamSynchronize(S.stream), "sumSquares"))
    return nullptr;
  return number(env, out);
}

// sumSquaresMany(bufs, counts) -> number[]: Σ x² of each buffer's first counts[i] floats, one read-back.
napi_value SumSquaresMany(napi_env env, napi_callback_info info) {
  napi_value v[2];
  if (!ready(env) || !args(env, info, 2, v, "sumSquaresMany")) return nullptr;
  uint32_t n = 0, nc = 0;
  if (napi_get_array_length(env, v[0], &n) != napi_ok || napi_get_array_length(env, v[1], &nc) != napi_ok || n != nc)
    return fail(env, "sumSquaresMany: expected two arrays of the same length"), nullptr;
  if (n > S.sumsCap) {
    if (S.sums && !cudaOk(env, cudaFreeAsync(S.sums, S.stream), "cudaFreeAsync")) return nullptr;
    S.sums = nullptr;
    S.sumsCap = 0;
    if (!cudaOk(env, cudaMallocAsync(reinterpret_cast<void**>(&S.sums), n * sizeof(double), S.stream),
                "cudaMallocAsync"))
      return nullptr;
    S.sumsCap = n;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value e, c;
    DevBuf* b;
    int64_t count;
    napi_get_element(env, v[0], i, &e);
    napi_get_element(env, v[1], i, &c);
    if (!buf(env, e, &b, "sumSquaresMany") || !integer(env, c, &count, "sumSquaresMany")) return nullptr;
    if (count < 0 || size_t(count) * sizeof(float) > b->bytes)
      return fail(env, "sumSquaresMany: count out of range"), nullptr;
    gpu::sumSquares(P<float>(b), count, S.sums + i, S.stream);
  }
  std::vector<double> host(n);
  if (!launched(env, "sumSquaresMany") ||
      (n && !cudaOk(env, cudaMemcpyAsync(host.data(), S.sums, n * sizeof(double), cudaMemcpyDeviceToHost, S.stream),
                    "sumSquaresMany")) ||
      !cudaOk(env, cudaStreamSynchronize(S.stream), "sumSquaresMany"))
    return nullptr;
  napi_value out;
  napi_create_array_with_length(env, n, &out);
  for (uint32_t i = 0; i < n; i++) napi_set_element(env, out, i, number(env, host[i]));
  return out;
}

// The profiler's GPU timing (engines/cuda/profile.ts): events recorded on the stream in order, read back
// as the GPU time between consecutive ones (then the list restarts; the events are kept for reuse).
struct Timing {
  std::vector<cudaEvent_t> events;
  size_t used = 0;
};
Timing Tm;

napi_value TimingMark(napi_env env, napi_callback_info) {
  if (!ready(env)) return nullptr;
  if (Tm.used == Tm.events.size()) {
    cudaEvent_t e;
    if (!cudaOk(env, cudaEventCreate(&e), "cudaEventCreate")) return nullptr;
    Tm.events.push_back(e);
  }
  cudaOk(env, cudaEventRecord(Tm.events[Tm.used++], S.stream), "cudaEventRecord");
  return nullptr;
}

napi_value TimingRead(napi_env env, napi_callback_info) {
  if (!ready(env) || !cudaOk(env, cudaStreamSynchronize(S.stream), "cudaStreamSynchronize")) return nullptr;
  const size_t n = Tm.used > 0 ? Tm.used - 1 : 0;
  Tm.used = 0;
  napi_value out;
  napi_create_array_with_length(env, n, &out);
  for (size_t i = 0; i < n; i++) {
    float ms = 0;
    if (!cudaOk(env, cudaEventElapsedTime(&ms, Tm.events[i], Tm.events[i + 1]), "cudaEventElapsedTime"))
      return nullptr;
    napi_set_element(env, out, i, number(env, ms));
  }
  return out;
}

}  // namespace

void defineDevice(napi_env env, napi_value exports, rt::Lt** lt) {
  S.lt = lt;
  napi_value o;
  napi_create_object(env, &o);
  define(env, o, "init", Init);
  define(env, o, "alloc", Alloc);
  define(env, o, "reserve", Reserve);
  define(env, o, "view", View);
  define(env, o, "free", Free);
  define(env, o, "upload", Upload);
  define(env, o, "download", Download);
  define(env, o, "zero", Zero);
  define(env, o, "memory", Memory);
  define(env, o, "sync", Sync);
  define(env, o, "resetPeak", ResetPeak);
  define(env, o, "toBf16", ToBf16);
  define(env, o, "gemm", Gemm);
  define(env, o, "rmsNormForward", RmsNormForward);
  define(env, o, "rmsNormBackward", RmsNormBackward);
  define(env, o, "rope", Rope);
  define(env, o, "swigluForward", SwigluForward);
  define(env, o, "swigluBackward", SwigluBackward);
  define(env, o, "attentionForward", AttentionForward);
  define(env, o, "attentionBackward", AttentionBackward);
  define(env, o, "crossEntropy", CrossEntropy);
  define(env, o, "crossEntropyRows", CrossEntropyRows);
  define(env, o, "adamw", AdamW);
  define(env, o, "nf4Dequantize", Nf4Dequantize);
  define(env, o, "embeddingGather", EmbeddingGather);
  define(env, o, "embeddingScatterAdd", EmbeddingScatterAdd);
  define(env, o, "copy", Copy2);
  define(env, o, "axpy", Axpy);
  define(env, o, "addBias", AddBias);
  define(env, o, "biasGrad", BiasGrad);
  define(env, o, "sumSquares", SumSquares);
  define(env, o, "sumSquaresMany", SumSquaresMany);
  define(env, o, "timingMark", TimingMark);
  define(env, o, "timingRead", TimingRead);
  napi_set_named_property(env, exports, "device", o);
}

}  // namespace sftc
