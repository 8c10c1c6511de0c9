/**
 * PyTorch's activations as one TF.js layer class, each with PyTorch's exact formula: TF.js's
 * 'hardSigmoid' is Keras's 0.2·x + 0.5, not PyTorch's relu6(x + 3) / 6; GELU is the exact (erf) one
 * unless the tanh approximation is asked for.
 */
import * as tf from '@tensorflow/tfjs';
import { oneInput, registerTorchLayer, type LayerArgs } from './base';

/** The activation functions, by PyTorch's module name (lower-case). */
const FUNCTIONS = {
  relu: (x: tf.Tensor) => tf.relu(x),
  relu6: (x: tf.Tensor) => tf.relu6(x),
  sigmoid: (x: tf.Tensor) => tf.sigmoid(x),
  tanh: (x: tf.Tensor) => tf.tanh(x),
  /** x · sigmoid(x) (nn.SiLU, "swish"). */
  silu: (x: tf.Tensor) => tf.mul(x, tf.sigmoid(x)),
  /** relu6(x + 3) / 6. */
  hardsigmoid: (x: tf.Tensor) => tf.div(tf.relu6(tf.add(x, 3)), 6),
  /** x · relu6(x + 3) / 6. */
  hardswish: (x: tf.Tensor) => tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6)),
  /** x · Φ(x), Φ through erf (nn.GELU()). */
  gelu: (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))),
  /** nn.GELU(approximate='tanh'), Hugging Face's gelu_new. */
  gelu_tanh: (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))))))),
} as const;

/** A PyTorch activation by name: relu, relu6, sigmoid, tanh, silu, hardsigmoid, hardswish, gelu, gelu_tanh. */
export type TorchActivationName = keyof typeof FUNCTIONS;

/** The names torchActivation accepts. */
export const TORCH_ACTIVATIONS = Object.keys(FUNCTIONS) as TorchActivationName[];

/** PyTorch's module for each activation (the layer table's `torchModules`, the README table). */
export const TORCH_ACTIVATION_MODULES: Record<TorchActivationName, string> = {
  relu: 'ReLU',
  relu6: 'ReLU6',
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  silu: 'SiLU',
  hardsigmoid: 'Hardsigmoid',
  hardswish: 'Hardswish',
  gelu: 'GELU',
  gelu_tanh: "GELU(approximate='tanh')",
};

/** Arguments of torchActivation. */
export interface TorchActivationArgs extends LayerArgs {
  activation: TorchActivationName;
}

/** One of PyTorch's element-wise activations, computed exactly as PyTorch does. */
export class TorchActivation extends tf.layers.Layer {
  static className = 'TorchActivation';
  readonly activation: TorchActivationName;

  constructor(args: TorchActivationArgs) {
    super(args);
    if (!(args.activation in FUNCTIONS)) throw new Error(`torchActivation: unknown activation ${JSON.stringify(args.activation)} (known: ${TORCH_ACTIVATIONS.join(', ')})`);
    this.activation = args.activation;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => FUNCTIONS[this.activation](oneInput(inputs, 'TorchActivation')));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), activation: this.activation };
  }
}

registerTorchLayer(TorchActivation, { weights: {}, torchModules: Object.values(TORCH_ACTIVATION_MODULES) });

/** nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU, nn.GELU, ... as a TF.js layer. */
export function torchActivation(activation: TorchActivationName, args: LayerArgs = {}): TorchActivation {
  return new TorchActivation({ ...args, activation });
}
