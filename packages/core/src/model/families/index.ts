// The model families: the built-ins (one file each) registered in preference order, and the registry.
import { gemma2 } from "./gemma2.ts";
import { gemma3 } from "./gemma3.ts";
import { llama } from "./llama.ts";
import { mistral } from "./mistral.ts";
import { phi3 } from "./phi3.ts";
import { qwen2 } from "./qwen2.ts";
import { qwen3 } from "./qwen3.ts";
import { registerFamily } from "./registry.ts";

/** The families sftkit ships; a recipe's inline `architecture.type` takes one of these. */
export const builtinFamilies = [llama, qwen2, mistral, qwen3, gemma2, gemma3, phi3] as const;
for (const f of builtinFamilies) registerFamily(f);

export type BuiltinFamilyName = (typeof builtinFamilies)[number]["name"];
export const builtinFamilyNames = builtinFamilies.map((f) => f.name) as [
  BuiltinFamilyName,
  ...BuiltinFamilyName[],
];

export { beyondLlama } from "./beyond-llama.ts";
export {
  type DecoderFamilyOptions,
  decoderFamily,
  readWeightAsIs,
  type SlidingWindowKeys,
} from "./decoder.ts";
export {
  decoderFeatureFields,
  decoderFeatureKeys,
  decoderFeatures,
  layerWindow,
  windowBites,
} from "./features.ts";
export {
  familyNamed,
  familyNames,
  familyOf,
  hasFamily,
  parseHfConfig,
  registerFamily,
  toHfConfig,
  unregisterFamily,
} from "./registry.ts";
export * from "./types.ts";
