/**
 * torchvision's ResNet family (ResNet, ResNeXt, Wide ResNet) in TF.js with PyTorch's keys:
 * `conv1.weight`, `layer1.0.bn1.running_mean`, `layer2.0.downsample.0.weight`, `fc.bias`.
 * A reference state dict loads with `strict: true` and the eval outputs are PyTorch's.
 */
import * as tf from '@tensorflow/tfjs';
import { torchActivation } from './layers/activation';
import { torchConv2d } from './layers/conv';
import { torchFlatten } from './layers/flatten';
import { torchBatchNorm } from './layers/norm';
import { torchAdaptiveAvgPool2d, torchMaxPool2d } from './layers/pool';
import { orderByCreation } from '../model/weights';
import { visionDefaults, type VisionOptions } from './options';

/** torchvision's residual blocks: BasicBlock (two 3×3 convolutions) or Bottleneck (1×1, 3×3, 1×1; expansion 4). */
export type ResNetBlock = 'basic' | 'bottleneck';

/** The arguments of torchvision's `ResNet(block, layers, ...)`, camel-cased, plus the zoo's options. */
export interface ResNetOptions extends VisionOptions {
  block: ResNetBlock;
  /** Blocks per stage, e.g. [2, 2, 2, 2] (resnet18). */
  layers: [number, number, number, number] | number[];
  /** Groups of the 3×3 convolutions (ResNeXt); default 1. */
  groups?: number;
  /** Channels per group (default 64; Wide ResNet: 128). */
  widthPerGroup?: number;
  /** Stages 2–4 that replace their stride by dilation. */
  replaceStrideWithDilation?: [boolean, boolean, boolean];
}

const EXPANSION: Record<ResNetBlock, number> = { basic: 1, bottleneck: 4 };

/** A torchvision ResNet with any block and stage depths (`ResNet(BasicBlock, [1, 1, 1, 1])`). */
export function resnet(opts: ResNetOptions): tf.LayersModel {
  const arch = opts.name ?? 'resnet';
  const o = visionDefaults(opts, arch);
  const { block } = opts;
  if (block !== 'basic' && block !== 'bottleneck') throw new Error(`${arch}: block must be 'basic' or 'bottleneck', got ${JSON.stringify(block)}`);
  if (opts.layers.length !== 4 || opts.layers.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`${arch}: layers must be four positive block counts, got ${JSON.stringify(opts.layers)}`);
  const groups = opts.groups ?? 1;
  const baseWidth = opts.widthPerGroup ?? 64;
  if (block === 'basic' && (groups !== 1 || baseWidth !== 64)) throw new Error(`${arch}: BasicBlock only supports groups=1 and widthPerGroup=64 (as in torchvision)`);
  const dilate = opts.replaceStrideWithDilation ?? [false, false, false];
  if (block === 'basic' && dilate.some(Boolean)) throw new Error(`${arch}: dilation > 1 is not supported in BasicBlock (as in torchvision)`);

  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x = torchConv2d({ name: 'conv1', filters: 64, kernelSize: 7, stride: 2, padding: 3, useBias: false }).apply(input) as tf.SymbolicTensor;
  x = torchBatchNorm({ name: 'bn1' }).apply(x) as tf.SymbolicTensor;
  x = torchActivation('relu', { name: 'relu' }).apply(x) as tf.SymbolicTensor;
  x = torchMaxPool2d({ name: 'maxpool', kernelSize: 3, stride: 2, padding: 1 }).apply(x) as tf.SymbolicTensor;

  let inplanes = 64;
  let dilation = 1;
  [64, 128, 256, 512].forEach((planes, stage) => {
    let stride = stage === 0 ? 1 : 2;
    const previousDilation = dilation;
    if (stage > 0 && dilate[stage - 1]) { dilation *= stride; stride = 1; }
    for (let b = 0; b < opts.layers[stage]; b++) {
      const name = `layer${stage + 1}.${b}`;
      const first = b === 0;
      const out = planes * EXPANSION[block];
      const downsample = first && (stride !== 1 || inplanes !== out);
      const args = { name, planes, stride: first ? stride : 1, dilation: first ? previousDilation : dilation, groups, baseWidth, downsample };
      x = block === 'basic' ? basicBlock(x, args) : bottleneck(x, args);
      inplanes = out;
    }
  });

  x = torchAdaptiveAvgPool2d({ name: 'avgpool', outputSize: 1 }).apply(x) as tf.SymbolicTensor;
  x = torchFlatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
  if (o.includeTop) x = tf.layers.dense({ name: 'fc', units: o.numClasses }).apply(x) as tf.SymbolicTensor;
  return orderByCreation(tf.model({ inputs: input, outputs: x, name: o.name }));
}

interface BlockArgs { name: string; planes: number; stride: number; dilation: number; groups: number; baseWidth: number; downsample: boolean }

function convBn(x: tf.SymbolicTensor, name: string, bn: string, filters: number, kernelSize: number, stride: number, dilation = 1, groups = 1): tf.SymbolicTensor {
  const padding = kernelSize === 3 ? dilation : 0;
  const y = torchConv2d({ name, filters, kernelSize, stride, padding, dilation, groups, useBias: false }).apply(x) as tf.SymbolicTensor;
  return torchBatchNorm({ name: bn }).apply(y) as tf.SymbolicTensor;
}

function shortcut(x: tf.SymbolicTensor, a: BlockArgs, filters: number): tf.SymbolicTensor {
  return a.downsample ? convBn(x, `${a.name}.downsample.0`, `${a.name}.downsample.1`, filters, 1, a.stride) : x;
}

function join(a: BlockArgs, y: tf.SymbolicTensor, identity: tf.SymbolicTensor): tf.SymbolicTensor {
  const sum = tf.layers.add({ name: `${a.name}.add` }).apply([y, identity]) as tf.SymbolicTensor;
  return torchActivation('relu', { name: `${a.name}.relu` }).apply(sum) as tf.SymbolicTensor;
}

function basicBlock(x: tf.SymbolicTensor, a: BlockArgs): tf.SymbolicTensor {
  let y = convBn(x, `${a.name}.conv1`, `${a.name}.bn1`, a.planes, 3, a.stride);
  y = torchActivation('relu', { name: `${a.name}.relu1` }).apply(y) as tf.SymbolicTensor;
  y = convBn(y, `${a.name}.conv2`, `${a.name}.bn2`, a.planes, 3, 1);
  return join(a, y, shortcut(x, a, a.planes));
}

function bottleneck(x: tf.SymbolicTensor, a: BlockArgs): tf.SymbolicTensor {
  const width = Math.floor(a.planes * (a.baseWidth / 64)) * a.groups;
  let y = convBn(x, `${a.name}.conv1`, `${a.name}.bn1`, width, 1, 1);
  y = torchActivation('relu', { name: `${a.name}.relu1` }).apply(y) as tf.SymbolicTensor;
  y = convBn(y, `${a.name}.conv2`, `${a.name}.bn2`, width, 3, a.stride, a.dilation, a.groups);
  y = torchActivation('relu', { name: `${a.name}.relu2` }).apply(y) as tf.SymbolicTensor;
  y = convBn(y, `${a.name}.conv3`, `${a.name}.bn3`, a.planes * 4, 1, 1);
  return join(a, y, shortcut(x, a, a.planes * 4));
}

/** torchvision's resnet18: BasicBlock, [2, 2, 2, 2]. */
export function resnet18(opts: VisionOptions = {}): tf.LayersModel {
  return resnet({ ...opts, name: opts.name ?? 'resnet18', block: 'basic', layers: [2, 2, 2, 2] });
}

/** torchvision's resnet34: BasicBlock, [3, 4, 6, 3]. */
export function resnet34(opts: VisionOptions = {}): tf.LayersModel {
  return resnet({ ...opts, name: opts.name ?? 'resnet34', block: 'basic', layers: [3, 4, 6, 3] });
}

/** torchvision's resnet50: Bottleneck, [3, 4, 6, 3]. */
export function resnet50(opts: VisionOptions = {}): tf.LayersModel {
  return resnet({ ...opts, name: opts.name ?? 'resnet50', block: 'bottleneck', layers: [3, 4, 6, 3] });
}

/** torchvision's resnet101: Bottleneck, [3, 4, 23, 3]. */
export function resnet101(opts: VisionOptions = {}): tf.LayersModel {
  return resnet({ ...opts, name: opts.name ?? 'resnet101', block: 'bottleneck', layers: [3, 4, 23, 3] });
}

/** torchvision's resnext50_32x4d: Bottleneck, [3, 4, 6, 3], 32 groups of width 4. */
export function resnext50_32x4d(opts: VisionOptions = {}): tf.LayersModel {
  return resnet({ ...opts, name: opts.name ?? 'resnext50_32x4d', block: 'bottleneck', layers: [3, 4, 6, 3], groups: 32, widthPerGroup: 4 });
}

/** torchvision's wide_resnet50_2: Bottleneck, [3, 4, 6, 3], width per group 128. */
export function wideResnet50_2(opts: VisionOptions = {}): tf.LayersModel {
  return resnet({ ...opts, name: opts.name ?? 'wide_resnet50_2', block: 'bottleneck', layers: [3, 4, 6, 3], widthPerGroup: 128 });
}
