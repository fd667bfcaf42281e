// The model core's public names (checkpoints, config, forward, backends, kernels, training step).
export { type ActivationEstimate, activationBytes } from "./activations.ts";
export {
  type BackendChoice,
  BackendError,
  type BackendInfo,
  currentBackend,
  initBackend,
} from "./backend.ts";
export { attentionMask, packRows, padRows, type TokenBatch } from "./batch.ts";
export { Checkpoint, writeCheckpoint } from "./checkpoint.ts";
export {
  type Architecture,
  countParameters,
  hfModuleNames,
  type LinearModule,
  linearModules,
  type ModelConfig,
  ModelConfigError,
  parseHfConfig,
  type RopeScaling,
  readHfConfig,
  toHfConfig,
} from "./config.ts";
export type { StDtype } from "./dtype.ts";
export {
  builtinFamilyNames,
  type DecoderFamilyOptions,
  decoderFamily,
  familyNamed,
  familyNames,
  familyOf,
  type LinearRole,
  linearRoles,
  type ModelFamily,
  registerFamily,
  type TensorFact,
  unregisterFamily,
  type WeightSource,
} from "./families/index.ts";
export { hubCacheDir, resolveHubModel } from "./hub-cache.ts";
export { describeKernels, embedding, fusedCrossEntropy, linear } from "./kernels.ts";
export {
  type AdapterHooks,
  expectedTensors,
  type ForwardOptions,
  type KvCache,
  type LinearName,
  loadModel,
  Model,
  randomModel,
} from "./llama.ts";
export { importLlama2c, Llama2cError } from "./llama2c.ts";
export { SafetensorsError, SafetensorsFile, writeSafetensors } from "./safetensors.ts";
export {
  type LossAndGrads,
  lossAndGrads,
  lossTensor,
  type StepInput,
  type StepOptions,
  sgdUpdate,
  shiftLabels,
} from "./train-step.ts";
