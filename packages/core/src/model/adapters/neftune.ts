// NEFTune (Jain et al. 2023): while training, uniform noise on the input embeddings, scaled as transformers'
// neftune_post_forward_hook (src/transformers/trainer_utils.py, which TRL's neftune_noise_alpha uses):
// U(-alpha/sqrt(L·d), alpha/sqrt(L·d)) with L the batch's (padded) sequence length and d the hidden size.
import * as tf from "@tensorflow/tfjs-core";
import type { AdapterHooks } from "../llama.ts";
import { subSeed, uniformArray } from "./random.ts";

/** Its own stream beside dropout's, from the same per-micro-batch seed. */
const NEFTUNE_STREAM = 0x4e4546;

/** The noise's bound for a batch of length L and hidden size d. */
export const neftuneBound = (alpha: number, seqLen: number, hidden: number) =>
  alpha / Math.sqrt(seqLen * hidden);

/** The noise of one micro-batch for `n` embedding rows of width `d` (every engine draws it here). */
export function neftuneNoise(
  alpha: number,
  seed: number,
  n: number,
  d: number,
  seqLen: number,
): Float32Array {
  return uniformArray(n * d, neftuneBound(alpha, seqLen, d), subSeed(seed, NEFTUNE_STREAM));
}

/** The hook adding the noise of one micro-batch (seeded: the same seed gives the same noise). */
export function neftuneHooks(alpha: number, seed: number): AdapterHooks {
  return {
    embeddings: (x, _batch, seqLen) => {
      const [n, d] = x.shape;
      return tf.add(x, tf.tensor2d(neftuneNoise(alpha, seed, n, d, seqLen), [n, d])) as tf.Tensor2D;
    },
  };
}
