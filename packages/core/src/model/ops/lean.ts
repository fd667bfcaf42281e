// Reshape and add whose gradients keep no copies (tfjs's save their inputs; on wasm a save copies).
import * as tf from "@tensorflow/tfjs-core";
import { freeing } from "../free.ts";

/** tf.reshape whose gradient keeps no copy of its input (tfjs's Reshape gradient saves one). */
export function reshapeLean<T extends tf.Tensor>(x: tf.Tensor, shape: number[]): T {
  const inShape = x.shape;
  const f = tf.customGrad((xi, _save) => ({
    value: tf.reshape(xi as tf.Tensor, shape),
    gradFunc: freeing((dy) => tf.reshape(dy as tf.Tensor, inShape)),
  }));
  return f(x) as T;
}

/** a + b for same-shaped tensors, keeping no copies for the gradient (tfjs's Add saves both). */
export function addLean<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
  if (a.shape.length !== b.shape.length || a.shape.some((s, i) => s !== b.shape[i]))
    throw new Error(`addLean: shapes [${a.shape}] and [${b.shape}] differ`);
  const f = tf.customGrad((ai, bi, _save) => ({
    value: tf.add(ai as tf.Tensor, bi as tf.Tensor),
    // Two distinct tensor objects over the same data: no copy.
    gradFunc: freeing((dy) => [tf.reshape(dy as tf.Tensor, a.shape), tf.reshape(dy as tf.Tensor, a.shape)]),
  }));
  return f(a, b) as T;
}
