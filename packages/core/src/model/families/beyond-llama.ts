// What a configuration needs beyond the Llama decoder (seven linears, whole-head RoPE without attention
// scaling), in words: an engine whose forward is only Llama's refuses a plan that needs any of it.

import { familyOf } from "./registry.ts";
import type { ModelConfig } from "./types.ts";

export function beyondLlama(cfg: ModelConfig): string[] {
  const needs: string[] = [];
  const fused = familyOf(cfg)
    .linearModules(cfg)
    .filter((m) => m.name === "qkv_proj" || m.name === "gate_up_proj");
  if (fused.length > 0) needs.push(`fused linears (${fused.map((m) => m.name).join(", ")})`);
  if ((cfg.partialRotaryFactor ?? 1) !== 1) needs.push(`partial rotary (factor ${cfg.partialRotaryFactor})`);
  if (cfg.ropeScaling?.type === "longrope") needs.push("longrope scaling");
  return needs;
}
