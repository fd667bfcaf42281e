// Prototype N-API addon (bench only): cblas_sgemm on float32 typed arrays in place — here views
// of the tfjs wasm heap, so a MatMul kernel reads and writes tensors without copies.
// Build: bench/native/build.sh (g++, Node headers, libopenblas-dev). Not part of the workspace.
#include <cblas.h>
#include <node_api.h>

static float* f32(napi_env env, napi_value v, size_t* len) {
  napi_typedarray_type type;
  void* data = nullptr;
  napi_value ab;
  size_t off = 0;
  if (napi_get_typedarray_info(env, v, &type, len, &data, &ab, &off) != napi_ok || type != napi_float32_array)
    return nullptr;
  return static_cast<float*>(data);
}

// sgemm(a, b, c, M, N, K, transA, transB, batch, strideA, strideB, strideC): c = op(a) @ op(b), row-major.
static napi_value Sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 8) {
    napi_throw_error(env, nullptr, "sgemm: expected at least 8 arguments");
    return nullptr;
  }
  size_t la, lb, lc;
  float* a = f32(env, argv[0], &la);
  float* b = f32(env, argv[1], &lb);
  float* c = f32(env, argv[2], &lc);
  if (!a || !b || !c) {
    napi_throw_type_error(env, nullptr, "sgemm: a, b and c must be Float32Arrays");
    return nullptr;
  }
  int32_t M, N, K, batch = 1;
  int64_t sa = 0, sb = 0, sc = 0;
  bool ta, tb;
  napi_get_value_int32(env, argv[3], &M);
  napi_get_value_int32(env, argv[4], &N);
  napi_get_value_int32(env, argv[5], &K);
  napi_get_value_bool(env, argv[6], &ta);
  napi_get_value_bool(env, argv[7], &tb);
  if (argc >= 12) {
    napi_get_value_int32(env, argv[8], &batch);
    napi_get_value_int64(env, argv[9], &sa);
    napi_get_value_int64(env, argv[10], &sb);
    napi_get_value_int64(env, argv[11], &sc);
  }
  for (int32_t i = 0; i < batch; i++) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f,
                a + i * sa, ta ? M : K, b + i * sb, tb ? K : N, 0.0f, c + i * sc, N);
  }
  return nullptr;
}

static napi_value Threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc >= 1) {
    int32_t n;
    napi_get_value_int32(env, argv[0], &n);
    openblas_set_num_threads(n);
  }
  napi_value out;
  napi_create_int32(env, openblas_get_num_threads(), &out);
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "sgemm", NAPI_AUTO_LENGTH, Sgemm, nullptr, &fn);
  napi_set_named_property(env, exports, "sgemm", fn);
  napi_create_function(env, "threads", NAPI_AUTO_LENGTH, Threads, nullptr, &fn);
  napi_set_named_property(env, exports, "threads", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
