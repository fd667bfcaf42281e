// tfjs-core for code outside this package (bench/, examples/) that cannot resolve it directly.
export * as tf from "@tensorflow/tfjs-core";
