#pragma once
#include <string>
#include <vector>

#include "runtime.h"

namespace sftc {

struct BenchResult {
  std::string name;
  double ms;      // per call, mean over the timed calls
  double tflops;  // 0 where not counted
  std::string error;
};

// Times cuBLASLt's bf16 GEMMs and the kernels at a Qwen2.5-0.5B step's shapes (8 x 1024 tokens), so a
// GPU run measures the parts the engine's step is made of before the step exists.
std::vector<BenchResult> benchParts(rt::Lt* lt);

}  // namespace sftc
