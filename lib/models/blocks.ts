/**
 * Building blocks torchvision's mobile families share (torchvision.ops.misc): Conv2dNormActivation
 * and SqueezeExcitation, built into a functional TF.js graph with PyTorch's module paths as layer
 * names, so the keys come out as `features.0.0.weight` and `block.2.fc1.weight`.
 */
import * as tf from '@tensorflow/tfjs';
import { torchActivation, type TorchActivationName } from './layers/activation';
import { torchConv2d } from './layers/conv';
import { torchLinear } from './layers/init';
import { torchBatchNorm } from './layers/norm';
import { torchAdaptiveAvgPool2d } from './layers/pool';
import { torchFlatten } from './layers/flatten';

/** Applies a layer to one symbolic tensor. */
export function applyTo(layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor {
  return layer.apply(x) as tf.SymbolicTensor;
}

/** nn.Linear at module path `name` on the features of `x`, with PyTorch's default initialisation. */
export function linear(x: tf.SymbolicTensor, name: string, units: number): tf.SymbolicTensor {
  const inFeatures = x.shape[x.shape.length - 1];
  if (inFeatures === null) throw new Error(`${name}: the number of input features must be known`);
  return applyTo(torchLinear({ name, units, inFeatures }), x);
}

/** The tail MobileNetV2 and EfficientNet share: avgpool, flatten, then (with the top) classifier = Sequential(Dropout, Linear). */
export function poolAndClassify(x: tf.SymbolicTensor, o: { includeTop: boolean; numClasses: number; dropout: number }): tf.SymbolicTensor {
  x = applyTo(torchAdaptiveAvgPool2d({ name: 'avgpool', outputSize: 1 }), x);
  x = applyTo(torchFlatten({ name: 'flatten' }), x);
  if (!o.includeTop) return x;
  x = applyTo(tf.layers.dropout({ name: 'classifier.0', rate: o.dropout }), x);
  return linear(x, 'classifier.1', o.numClasses);
}

/** BatchNorm2d's eps and momentum (PyTorch's meaning), as a family's `norm_layer` sets them. */
export interface NormSpec {
  eps: number;
  momentum: number;
}

/** PyTorch's BatchNorm2d defaults. */
export const TORCH_BN: NormSpec = { eps: 1e-5, momentum: 0.1 };

/** Arguments of conv2dNormActivation, as torchvision's Conv2dNormActivation takes them. */
export interface ConvNormActivationArgs {
  filters: number;
  kernelSize?: number;
  stride?: number;
  groups?: number;
  dilation?: number;
  /** The activation after the norm, or null for none (a projection). */
  activation: TorchActivationName | null;
  norm: NormSpec;
}

/**
 * torchvision's Conv2dNormActivation at module path `name`: `name.0` a bias-free convolution
 * padded (k − 1) / 2 · dilation on both sides, `name.1` BatchNorm2d, `name.2` the activation.
 */
export function conv2dNormActivation(x: tf.SymbolicTensor, name: string, a: ConvNormActivationArgs): tf.SymbolicTensor {
  const kernelSize = a.kernelSize ?? 3;
  const dilation = a.dilation ?? 1;
  let y = applyTo(torchConv2d({
    name: `${name}.0`, filters: a.filters, kernelSize, stride: a.stride ?? 1, padding: Math.floor((kernelSize - 1) / 2) * dilation,
    dilation, groups: a.groups ?? 1, useBias: false,
  }), x);
  y = applyTo(torchBatchNorm({ name: `${name}.1`, eps: a.norm.eps, momentum: a.norm.momentum }), y);
  return a.activation ? applyTo(torchActivation(a.activation, { name: `${name}.2` }), y) : y;
}

/** Arguments of squeezeExcitation, as torchvision's SqueezeExcitation takes them. */
export interface SqueezeExcitationArgs {
  squeezeChannels: number;
  /** δ after fc1 (torchvision's default ReLU; EfficientNet: SiLU). */
  activation: TorchActivationName;
  /** σ after fc2 (torchvision's default Sigmoid; MobileNetV3: Hardsigmoid). */
  scaleActivation: TorchActivationName;
}

/**
 * torchvision's SqueezeExcitation at module path `name`: global average pool, `name.fc1` (1×1
 * convolution with bias), δ, `name.fc2`, σ, and the input scaled channel-wise by the result.
 */
export function squeezeExcitation(x: tf.SymbolicTensor, name: string, a: SqueezeExcitationArgs): tf.SymbolicTensor {
  const channels = x.shape[x.shape.length - 1] as number;
  let s = applyTo(torchAdaptiveAvgPool2d({ name: `${name}.avgpool`, outputSize: 1 }), x);
  s = applyTo(torchConv2d({ name: `${name}.fc1`, filters: a.squeezeChannels, kernelSize: 1 }), s);
  s = applyTo(torchActivation(a.activation, { name: `${name}.activation` }), s);
  s = applyTo(torchConv2d({ name: `${name}.fc2`, filters: channels, kernelSize: 1 }), s);
  s = applyTo(torchActivation(a.scaleActivation, { name: `${name}.scale_activation` }), s);
  return applyTo(tf.layers.multiply({ name: `${name}.scale` }), [s, x]);
}
