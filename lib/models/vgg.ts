/**
 * torchvision's VGG family (11, 13, 16, 19, each with and without BatchNorm) in TF.js with
 * PyTorch's keys: `features.0.weight`, `features.1.running_mean` (with BatchNorm),
 * `classifier.0.weight`, `classifier.6.bias`. The classifier takes the 7 × 7 adaptive pool of the
 * last map whatever the input size, so its first Linear is 25088 × 4096 as in torchvision.
 */
import * as tf from '@tensorflow/tfjs';
import { orderByCreation } from '../model/weights';
import { applyTo, linear } from './blocks';
import { torchActivation } from './layers/activation';
import { torchConv2d } from './layers/conv';
import { torchFlatten } from './layers/flatten';
import { torchBatchNorm } from './layers/norm';
import { torchAdaptiveAvgPool2d, torchMaxPool2d } from './layers/pool';
import { visionDefaults, type VisionOptions } from './options';

/** A VGG feature stack as torchvision's `cfgs` write it: output channels of a 3×3 convolution, or 'M' for a 2×2 max pool. */
export type VggConfig = Array<number | 'M'>;

/** torchvision's four configurations: A (vgg11), B (vgg13), D (vgg16), E (vgg19). */
export const VGG_CONFIGS: Record<'A' | 'B' | 'D' | 'E', VggConfig> = {
  A: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  B: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  D: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
  E: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
};

/** The options of every VGG builder (torchvision's keyword arguments, camel-cased). */
export interface VggOptions extends VisionOptions {
  /** Dropout in the classifier (default 0.5). */
  dropout?: number;
}

/** torchvision's `VGG(make_layers(cfg, batch_norm))` with any configuration. */
export interface VggArgs extends VggOptions {
  /** One of torchvision's configurations by letter, or a list of its own. */
  config: keyof typeof VGG_CONFIGS | VggConfig;
  /** A BatchNorm2d after each convolution (the `_bn` variants). */
  batchNorm?: boolean;
}

/** A torchvision VGG: `features.N` (Conv2d 3×3 padding 1, [BatchNorm2d], ReLU, MaxPool2d(2, 2)), 7 × 7 adaptive pool, `classifier.0/3/6`. */
export function vgg(args: VggArgs): tf.LayersModel {
  const bn = args.batchNorm ?? false;
  const arch = args.name ?? (typeof args.config === 'string' ? `vgg_${args.config}${bn ? '_bn' : ''}` : 'vgg');
  const o = visionDefaults(args, arch);
  const cfg = typeof args.config === 'string' ? VGG_CONFIGS[args.config] : args.config;
  if (!Array.isArray(cfg) || cfg.length === 0 || cfg.some((v) => v !== 'M' && !(Number.isInteger(v) && v > 0))) {
    throw new Error(`${arch}: config must be 'A', 'B', 'D', 'E' or a list of channel counts and 'M', got ${JSON.stringify(args.config)}`);
  }
  const dropout = args.dropout ?? 0.5;
  if (!(dropout >= 0 && dropout < 1)) throw new Error(`${arch}: dropout must be in [0, 1), got ${dropout}`);

  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x: tf.SymbolicTensor = input;
  let i = 0;
  let channels = o.inputShape[2];
  for (const v of cfg) {
    if (v === 'M') {
      x = applyTo(torchMaxPool2d({ name: `features.${i++}`, kernelSize: 2, stride: 2 }), x);
      continue;
    }
    x = applyTo(torchConv2d({ name: `features.${i++}`, filters: v, kernelSize: 3, padding: 1 }), x);
    if (bn) x = applyTo(torchBatchNorm({ name: `features.${i++}` }), x);
    x = applyTo(torchActivation('relu', { name: `features.${i++}` }), x);
    channels = v;
  }
  if (o.includeTop && channels !== 512) throw new Error(`${arch}: the classifier takes 512 × 7 × 7 features (torchvision's VGG), but the last convolution of config has ${channels} channels; use includeTop: false`);
  x = applyTo(torchAdaptiveAvgPool2d({ name: 'avgpool', outputSize: 7 }), x);
  x = applyTo(torchFlatten({ name: 'flatten' }), x);
  if (o.includeTop) {
    x = linear(x, 'classifier.0', 4096);
    x = applyTo(torchActivation('relu', { name: 'classifier.1' }), x);
    x = applyTo(tf.layers.dropout({ name: 'classifier.2', rate: dropout }), x);
    x = linear(x, 'classifier.3', 4096);
    x = applyTo(torchActivation('relu', { name: 'classifier.4' }), x);
    x = applyTo(tf.layers.dropout({ name: 'classifier.5', rate: dropout }), x);
    x = linear(x, 'classifier.6', o.numClasses);
  }
  return orderByCreation(tf.model({ inputs: input, outputs: x, name: o.name }));
}

const variant = (config: keyof typeof VGG_CONFIGS, batchNorm: boolean, name: string) => (opts: VggOptions = {}): tf.LayersModel =>
  vgg({ ...opts, config, batchNorm, name: opts.name ?? name });

/** torchvision's vgg11 (configuration A). */
export const vgg11 = variant('A', false, 'vgg11');
/** torchvision's vgg11_bn (configuration A with BatchNorm). */
export const vgg11Bn = variant('A', true, 'vgg11_bn');
/** torchvision's vgg13 (configuration B). */
export const vgg13 = variant('B', false, 'vgg13');
/** torchvision's vgg13_bn (configuration B with BatchNorm). */
export const vgg13Bn = variant('B', true, 'vgg13_bn');
/** torchvision's vgg16 (configuration D). */
export const vgg16 = variant('D', false, 'vgg16');
/** torchvision's vgg16_bn (configuration D with BatchNorm). */
export const vgg16Bn = variant('D', true, 'vgg16_bn');
/** torchvision's vgg19 (configuration E). */
export const vgg19 = variant('E', false, 'vgg19');
/** torchvision's vgg19_bn (configuration E with BatchNorm). */
export const vgg19Bn = variant('E', true, 'vgg19_bn');
