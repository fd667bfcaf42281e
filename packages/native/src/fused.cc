// Fused element-wise training kernels: RMSNorm, SwiGLU, RoPE, softmax cross-entropy.
#include "common.h"

void registerFused(napi_env, napi_value) {}
