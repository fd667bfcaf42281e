export * from "./common.ts";
export * from "./data.ts";
export * from "./method.ts";
export * from "./model.ts";
export * from "./recipe.ts";
export * from "./template.ts";
export * from "./tokens.ts";
export * from "./train.ts";
