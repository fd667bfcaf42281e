// @sftkit/recipes: method presets and (later) ready recipes laid out as <family>/<size>_<method>.ts.
export * as methods from "./methods.ts";
