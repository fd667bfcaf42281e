// Small N-API helpers shared by the two add-ons (the CUDA one and the host test one).
#pragma once
#include <node_api.h>

#include <cstdint>
#include <string>

namespace sftc::napi {

inline bool fail(napi_env env, const std::string& msg) {
  napi_throw_range_error(env, nullptr, msg.c_str());
  return false;
}

inline bool isNullish(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_null || t == napi_undefined;
}

// A typed array of the expected element type; `len` is its element count.
template <typename T>
bool typed(napi_env env, napi_value v, napi_typedarray_type want, T** out, size_t* len, const char* what) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (!is) return fail(env, std::string(what) + ": expected a typed array");
  napi_typedarray_type type;
  void* data;
  napi_value buf;
  size_t off;
  napi_get_typedarray_info(env, v, &type, len, &data, &buf, &off);
  if (type != want) return fail(env, std::string(what) + ": wrong typed array type");
  *out = static_cast<T*>(data);
  return true;
}
// Nullable: null/undefined gives nullptr.
template <typename T>
bool typedOrNull(napi_env env, napi_value v, napi_typedarray_type want, T** out, size_t* len, const char* what) {
  if (isNullish(env, v)) {
    *out = nullptr;
    *len = 0;
    return true;
  }
  return typed(env, v, want, out, len, what);
}

inline bool num(napi_env env, napi_value v, double* out, const char* what) {
  if (napi_get_value_double(env, v, out) != napi_ok) return fail(env, std::string(what) + ": expected a number");
  return true;
}
inline bool integer(napi_env env, napi_value v, int64_t* out, const char* what) {
  double d;
  if (!num(env, v, &d, what)) return false;
  *out = static_cast<int64_t>(d);
  if (static_cast<double>(*out) != d) return fail(env, std::string(what) + ": expected an integer");
  return true;
}
inline bool boolean(napi_env env, napi_value v, bool* out, const char* what) {
  if (napi_get_value_bool(env, v, out) != napi_ok) return fail(env, std::string(what) + ": expected a boolean");
  return true;
}
inline bool need(napi_env env, size_t have, int64_t want, const char* what) {
  if (want < 0 || have < static_cast<size_t>(want))
    return fail(env, std::string(what) + ": too short (" + std::to_string(have) + " < " + std::to_string(want) + ")");
  return true;
}

inline bool args(napi_env env, napi_callback_info info, size_t n, napi_value* out, const char* fn) {
  size_t got = n;
  napi_get_cb_info(env, info, &got, out, nullptr, nullptr);
  if (got < n) return fail(env, std::string(fn) + ": expected " + std::to_string(n) + " arguments");
  return true;
}

inline void define(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value f;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &f);
  napi_set_named_property(env, exports, name, f);
}

inline napi_value number(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}
inline napi_value string(napi_env env, const std::string& s) {
  napi_value v;
  napi_create_string_utf8(env, s.c_str(), s.size(), &v);
  return v;
}
inline void set(napi_env env, napi_value obj, const char* key, napi_value v) { napi_set_named_property(env, obj, key, v); }

}  // namespace sftc::napi
