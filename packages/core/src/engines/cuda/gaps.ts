// What of a method the cuda engine does not implement yet, in words with the recipe path (empty: all of
// it). Read from the method registry's pieces, so no kind is named here.
import { type Method, methodDefinition } from "../../methods/registry.ts";

export function cudaMethodGaps(method: Method): string[] {
  const def = methodDefinition(method);
  const pieces = def.pieces(method);
  const gaps: string[] = [];
  if (pieces.lora?.dora && pieces.lora.dropout > 0) gaps.push("DoRA with LoRA dropout (method.dora)");
  return gaps;
}
