// The method contract now lives with the tfjs engine (src/engines/tfjs); the methods still import it here.
export type {
  BuildMethod,
  MethodForward,
  MethodRuntime,
  SaveOptions,
} from "../engines/tfjs/method-runtime.ts";
