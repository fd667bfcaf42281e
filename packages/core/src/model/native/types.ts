// The optional @sftkit/native addon's surface, declared here so @sftkit/core type-checks and runs
// without it (it is an optional dependency, imported by a computed name).
export type {
  CrossEntropyResult,
  HalfDtype,
  NativeAddon,
  NativeInfo,
  NativeWeight,
  TokenRows,
} from "@sftkit/native";
