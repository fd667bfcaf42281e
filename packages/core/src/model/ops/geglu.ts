// GeGLU: gelu_tanh(gate) * up, Gemma's MLP gating (transformers' "gelu_pytorch_tanh"). tfjs ops with their
// own gradients: no kernel tier implements it.
import * as tf from "@tensorflow/tfjs-core";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** 0.5 * g * (1 + tanh(sqrt(2/pi) * (g + 0.044715 g^3))) * u */
export function geglu(g: tf.Tensor2D, u: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const inner = tf.mul(tf.add(g, tf.mul(tf.mul(g, tf.square(g)), 0.044715)), SQRT_2_OVER_PI);
    const gelu = tf.mul(tf.mul(g, 0.5), tf.add(tf.tanh(inner), 1));
    return tf.mul(gelu, u) as tf.Tensor2D;
  });
}
