// Ops the adapters need whose gradients tfjs-core's Node bundle does not register (Slice, Tanh).
import * as tf from "@tensorflow/tfjs-core";

/** Columns [start, start + width) of a 2-D tensor; the gradient pads dy back with zeros. */
export function sliceCols(x: tf.Tensor2D, start: number, width: number): tf.Tensor2D {
  const [rows, cols] = x.shape;
  const f = tf.customGrad((xi) => ({
    value: tf.slice(xi as tf.Tensor2D, [0, start], [rows, width]),
    gradFunc: (dy) =>
      tf.pad(dy as tf.Tensor2D, [
        [0, 0],
        [start, cols - start - width],
      ]),
  }));
  return f(x) as tf.Tensor2D;
}

/** tanh with gradient dy * (1 - tanh^2). */
export function tanh(x: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((xi, save) => {
    const y = tf.tanh(xi as tf.Tensor2D);
    (save as tf.GradSaveFunc)([y]);
    return {
      value: y,
      gradFunc: (dy, saved) => tf.tidy(() => tf.mul(dy, tf.sub(1, tf.square(saved[0]!)))),
    };
  });
  return f(x) as tf.Tensor2D;
}

/** A trainable variable holding `t`'s values; `t` itself is disposed (tf.variable keeps a copy). */
export function variableOf(t: tf.Tensor, name: string): tf.Variable {
  const v = tf.variable(t, true, name);
  t.dispose();
  return v;
}
