// The CUDA add-on: probe (driver, device, compute capability: no context is created), cuBLASLt opening,
// and the GPU self test. Loads without a driver: libcuda and cuBLASLt are opened only when asked.
#include <string>

#include "bench.h"
#include "device.h"
#include "napi_util.h"
#include "runtime.h"
#include "selftest.h"

using namespace sftc;
using namespace sftc::napi;

static rt::Lt* lt = nullptr;

static napi_value Probe(napi_env env, napi_callback_info) {
  const rt::Probe p = rt::probeDriver();
  napi_value o, dev, b;
  napi_create_object(env, &o);
  napi_get_boolean(env, p.driver, &b);
  set(env, o, "driver", b);
  set(env, o, "driverError", string(env, p.driverError));
  set(env, o, "driverVersion", number(env, p.driverVersion));
  set(env, o, "deviceCount", number(env, p.deviceCount));
  if (p.driver) {
    napi_create_object(env, &dev);
    set(env, dev, "name", string(env, p.device.name));
    set(env, dev, "major", number(env, p.device.major));
    set(env, dev, "minor", number(env, p.device.minor));
    set(env, dev, "bytes", number(env, double(p.device.bytes)));
    set(env, o, "device", dev);
  }
  return o;
}

// openCublasLt(path) -> { ok, version?, error? }; the first library that opens is kept.
static napi_value OpenCublasLt(napi_env env, napi_callback_info info) {
  napi_value a[1];
  if (!args(env, info, 1, a, "openCublasLt")) return nullptr;
  char path[4096];
  size_t len;
  if (napi_get_value_string_utf8(env, a[0], path, sizeof path, &len) != napi_ok)
    return fail(env, "openCublasLt: expected a path"), nullptr;
  napi_value o, b;
  napi_create_object(env, &o);
  std::string error;
  if (!lt) lt = rt::openLt(path, &error);
  napi_get_boolean(env, lt != nullptr, &b);
  set(env, o, "ok", b);
  if (lt) set(env, o, "version", number(env, double(rt::ltVersion(lt))));
  else set(env, o, "error", string(env, error));
  return o;
}

static napi_value SelfTest(napi_env env, napi_callback_info) {
  const auto results = selfTest(lt);
  napi_value arr;
  napi_create_array_with_length(env, results.size(), &arr);
  for (size_t i = 0; i < results.size(); i++) {
    const auto& r = results[i];
    napi_value o, b;
    napi_create_object(env, &o);
    set(env, o, "name", string(env, r.name));
    set(env, o, "maxError", number(env, r.maxError));
    set(env, o, "tolerance", number(env, r.tolerance));
    napi_get_boolean(env, r.ok, &b);
    set(env, o, "ok", b);
    if (!r.error.empty()) set(env, o, "error", string(env, r.error));
    napi_set_element(env, arr, i, o);
  }
  return arr;
}

static napi_value Bench(napi_env env, napi_callback_info) {
  const auto results = benchParts(lt);
  napi_value arr;
  napi_create_array_with_length(env, results.size(), &arr);
  for (size_t i = 0; i < results.size(); i++) {
    const auto& r = results[i];
    napi_value o;
    napi_create_object(env, &o);
    set(env, o, "name", string(env, r.name));
    set(env, o, "ms", number(env, r.ms));
    set(env, o, "tflops", number(env, r.tflops));
    if (!r.error.empty()) set(env, o, "error", string(env, r.error));
    napi_set_element(env, arr, i, o);
  }
  return arr;
}

static napi_value Init(napi_env env, napi_value exports) {
  define(env, exports, "probe", Probe);
  define(env, exports, "openCublasLt", OpenCublasLt);
  define(env, exports, "selfTest", SelfTest);
  define(env, exports, "bench", Bench);
  defineDevice(env, exports, &lt);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
