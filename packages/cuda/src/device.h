// The device ops of the cuda engine's step (device.cc), exported as `device` on the add-on.
#pragma once
#include <node_api.h>

#include "runtime.h"

namespace sftc {
// `lt` is the add-on's cuBLASLt (opened by openCublasLt) that the GEMMs use.
void defineDevice(napi_env env, napi_value exports, rt::Lt** lt);
}  // namespace sftc
