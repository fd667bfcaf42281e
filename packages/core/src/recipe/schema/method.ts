// The recipe's `method`: derived from the method registry (src/methods), one definition per kind.
export {
  type LinearModuleName,
  linearModuleNames,
  type MethodKind,
  MethodSchema,
  methodKeysByKind,
  methodKinds,
  Nf4Schema,
} from "../../methods/registry.ts";
