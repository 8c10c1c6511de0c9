/** What every PyTorch-semantics layer shares: constructor arguments, argument checks, registration. */
import * as tf from '@tensorflow/tfjs';
import { registerLayerForm, type LayerForm } from '../../model/torch-layout';

/** TF.js's base layer arguments (name, trainable, inputShape, dtype, ...). */
export type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

/** A layer class TF.js can serialise (model.save / loadLayersModel) and tsfreeze can map to PyTorch. */
export interface TorchLayerClass {
  className: string;
  new (args: never): tf.layers.Layer;
}

/** Registers a layer class for TF.js's serialisation and its PyTorch form: the modules it stands for, its weights' names and layouts. */
export function registerTorchLayer(cls: TorchLayerClass & tf.serialization.SerializableConstructor<tf.serialization.Serializable>, form?: LayerForm): void {
  tf.serialization.registerClass(cls);
  if (form) registerLayerForm(cls.className, form);
}

/** The one input tensor of a single-input layer. */
export function oneInput(inputs: tf.Tensor | tf.Tensor[], layer: string): tf.Tensor {
  if (Array.isArray(inputs)) {
    if (inputs.length !== 1) throw new Error(`${layer}: expected one input, got ${inputs.length}`);
    return inputs[0];
  }
  return inputs;
}

/** The one input shape of a single-input layer. */
export function oneShape(shape: tf.Shape | tf.Shape[]): tf.Shape {
  return (Array.isArray(shape[0]) ? (shape as tf.Shape[])[0] : shape) as tf.Shape;
}

/** An int or an (h, w) pair as a pair, checked: PyTorch's `kernel_size=3` or `(3, 1)`. */
export function pair(v: number | readonly [number, number] | readonly number[], what: string, min = 0): [number, number] {
  const p = typeof v === 'number' ? [v, v] : [...v];
  if (p.length !== 2 || p.some((x) => !Number.isInteger(x) || x < min)) throw new Error(`${what} must be an integer ≥ ${min} or a pair of them, got ${JSON.stringify(v)}`);
  return p as [number, number];
}

/** Output length of a convolution or pool along one axis, as PyTorch computes it. */
export function outLength(size: number | null, kernel: number, stride: number, pad: number, dilation: number, ceil = false): number | null {
  if (size === null) return null;
  const span = size + 2 * pad - dilation * (kernel - 1) - 1;
  let n = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // PyTorch: with ceil_mode, the last window must start inside the input or its left padding.
  if (ceil && (n - 1) * stride >= size + pad) n--;
  return n;
}
