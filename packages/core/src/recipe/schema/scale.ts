import { z } from "zod";
import { positiveInt } from "./common.ts";

export const scaleStrategies = ["zero1", "zero2", "zero3", "fsdp"] as const;
export const precisions = ["bf16", "fp16", "fp32"] as const;

/** How an exported run spreads over GPUs; the local TensorFlow.js runtime ignores it. */
export const ScaleSchema = z
  .strictObject({
    gpusPerNode: positiveInt().default(1).describe("GPUs (processes) per node."),
    nodes: positiveInt().default(1).describe("Number of nodes (machines)."),
    strategy: z
      .enum(scaleStrategies)
      .default("zero2")
      .describe(
        "Sharding: DeepSpeed ZeRO stage 1 (optimizer state), 2 (+ gradients), 3 (+ parameters), or PyTorch FSDP2.",
      ),
    cpuOffload: z
      .boolean()
      .default(false)
      .describe("Offload optimizer state (zero1/2) or also parameters (zero3, fsdp) to CPU memory."),
    activationCheckpointing: z
      .boolean()
      .default(false)
      .describe("Recompute activations in backward (also on when train.gradientCheckpointing is set)."),
    precision: z.enum(precisions).default("bf16").describe("Mixed-precision compute type on the GPUs."),
  })
  .prefault({})
  .describe(
    "Multi-GPU settings used by `sft export` (Axolotl, TRL + accelerate); ignored when training locally.",
  );
