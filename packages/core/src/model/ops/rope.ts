// Rotary position embedding, rotate-half (HF Llama): x * cos + rotate_half(x) * sin per head.
import * as tf from "@tensorflow/tfjs-core";
import { addLean, reshapeLean } from "./lean.ts";
import { linear } from "./linear.ts";
import { kernel, type OpSpec } from "./registry.ts";

export const ROPE: OpSpec = {
  op: "rope",
  formulation: "y = x * cos + rotate_half(x) * sin per head, rotate_half(x) = [-x2, x1]",
  gradient: "the inverse rotation of dy: dy * cos + rotate_half^T(dy * sin)",
  reference: {
    name: "rope",
    plan: () => "rotate-half as x*cos + (x @ R)*sin with a constant [hd,hd] rotation, plain matMul",
  },
};

/** One layer's position tables: cos/sin [T * hd] (model/rope.ts ropeTables) and R [hd, hd]. */
export class RopeTables {
  private t3: { cos: tf.Tensor3D; sin: tf.Tensor3D } | null = null;

  constructor(
    readonly cos: Float32Array,
    readonly sin: Float32Array,
    readonly hd: number,
    /** rotate_half as a matrix (model/rope.ts rotateHalfMatrix). */
    readonly rot: tf.Tensor2D,
  ) {}

  /** The tables as [T, 1, hd] tensors, made once per layer (in its tidy scope) when first needed. */
  tensors(): { cos: tf.Tensor3D; sin: tf.Tensor3D } {
    const T = this.cos.length / this.hd;
    this.t3 ??= {
      cos: tf.tensor3d(this.cos, [T, 1, this.hd]),
      sin: tf.tensor3d(this.sin, [T, 1, this.hd]),
    };
    return this.t3;
  }
}

/** x: [T, heads * hd]. `reference`: the tfjs formulation whatever is registered (tests). */
export function rope(
  x: tf.Tensor2D,
  heads: number,
  tables: RopeTables,
  grad: boolean,
  reference = false,
): tf.Tensor2D {
  const hd = tables.hd;
  const fast = reference ? undefined : kernel("rope");
  if (fast) return fast(x, tables.cos, tables.sin, heads, hd, grad);
  const [T] = x.shape;
  const { cos, sin } = tables.tensors();
  const rs = (t: tf.Tensor, shape: number[]): tf.Tensor =>
    grad ? reshapeLean(t, shape) : tf.reshape(t, shape);
  const flat = rs(x, [T * heads, hd]) as tf.Tensor2D;
  const rotated = grad ? linear(flat, tables.rot, null, false) : tf.matMul(flat, tables.rot);
  const x3 = rs(x, [T, heads, hd]);
  const a = tf.mul(x3, cos);
  const b = tf.mul(rs(rotated, [T, heads, hd]), sin);
  return rs(grad ? addLean(a, b) : tf.add(a, b), [T, heads * hd]) as tf.Tensor2D;
}
