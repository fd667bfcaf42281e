// Hand-shaped ops: on wasm only a plain 2-D non-transposed matMul reaches XNNPACK, gather's
// gradient (UnsortedSegmentSum) is missing, and full [rows x vocab] logits are too large to keep.
// Each op is defined in ops/<op>.ts; these are the names the rest of the code imports.
import "./gradients.ts";

export { blockAttention } from "./ops/attention.ts";
export { fusedCrossEntropy, trainedRows } from "./ops/cross-entropy.ts";
export { embedding } from "./ops/embedding.ts";
export { describeKernels } from "./ops/index.ts";
export { addLean, reshapeLean } from "./ops/lean.ts";
export { linear } from "./ops/linear.ts";
export { matMulAT, matMulBT } from "./ops/matmul.ts";
