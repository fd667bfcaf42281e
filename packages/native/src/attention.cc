// Fused causal attention (forward and backward) over [tokens, heads * headDim] layouts.
#include "common.h"

void registerAttention(napi_env, napi_value) {}
