// The compute seam: the Engine interface, the registry, and the engines that ship with the core.
import "./tfjs/index.ts";
import "./native/index.ts";
import "./cuda/index.ts";

export type * from "./engine.ts";
export {
  decideEngine,
  type EngineDecision,
  type EngineStatus,
  engineDefinition,
  listEngines,
  registerEngine,
  unregisterEngine,
} from "./registry.ts";
