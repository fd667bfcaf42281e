#pragma once
#include <string>
#include <vector>

#include "runtime.h"

namespace sftc {

struct CheckResult {
  std::string name;
  double maxError;   // max |gpu - host| / (max |host| + 1e-6)
  double tolerance;
  bool ok;
  std::string error;  // a CUDA or cuBLASLt failure, when one happened
};

// Runs every kernel on device 0 with random inputs and compares it with reference.h on the host;
// the GEMMs too when `lt` is not null.
std::vector<CheckResult> selfTest(rt::Lt* lt);

}  // namespace sftc
