/**
 * torchvision's MobileNetV2 and MobileNetV3 (small, large) in TF.js with PyTorch's keys:
 * `features.0.0.weight`, `features.1.conv.0.0.weight`, `features.4.block.2.fc1.weight`,
 * `classifier.1.weight`. A reference state dict loads with `strict: true` and the eval outputs
 * are PyTorch's.
 */
import * as tf from '@tensorflow/tfjs';
import { orderByCreation } from '../model/weights';
import { applyTo, conv2dNormActivation, squeezeExcitation, poolAndClassify, TORCH_BN, type NormSpec, linear } from './blocks';
import { torchActivation } from './layers/activation';
import { torchConv2d } from './layers/conv';
import { torchBatchNorm } from './layers/norm';
import { torchFlatten } from './layers/flatten';
import { torchAdaptiveAvgPool2d } from './layers/pool';
import { makeDivisible, visionDefaults, type VisionOptions } from './options';

/** One row of MobileNetV2's table: expansion t, channels c, repeats n, first stride s. */
export type InvertedResidualSetting = [t: number, c: number, n: number, s: number];

/** torchvision's `MobileNetV2(...)` arguments, camel-cased, plus the zoo's options. */
export interface MobileNetV2Options extends VisionOptions {
  /** Channel multiplier (default 1). */
  widthMult?: number;
  /** Channels are rounded to multiples of this (default 8; 1 turns rounding off). */
  roundNearest?: number;
  /** The [t, c, n, s] rows (default: the paper's seven). */
  invertedResidualSetting?: InvertedResidualSetting[];
  /** Dropout before the classifier (default 0.2). */
  dropout?: number;
}

const V2_SETTING: InvertedResidualSetting[] = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];

/** torchvision's mobilenet_v2: inverted residuals with ReLU6, BatchNorm eps 1e-5. */
export function mobilenetV2(opts: MobileNetV2Options = {}): tf.LayersModel {
  const arch = opts.name ?? 'mobilenet_v2';
  const o = visionDefaults(opts, arch);
  const widthMult = positive(opts.widthMult ?? 1, arch, 'widthMult');
  const round = opts.roundNearest ?? 8;
  if (!Number.isInteger(round) || round < 1) throw new Error(`${arch}: roundNearest must be a positive integer, got ${round}`);
  const setting = opts.invertedResidualSetting ?? V2_SETTING;
  if (setting.length === 0 || setting.some((r) => r.length !== 4 || r.some((v) => !Number.isInteger(v) || v < 1) || r[3] > 2)) {
    throw new Error(`${arch}: invertedResidualSetting must be non-empty rows of four positive integers [t, c, n, s] with s ≤ 2, got ${JSON.stringify(opts.invertedResidualSetting)}`);
  }
  const dropout = rate(opts.dropout ?? 0.2, arch);

  let inputChannel = makeDivisible(32 * widthMult, round);
  const lastChannel = makeDivisible(1280 * Math.max(1, widthMult), round);
  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x = conv2dNormActivation(input, 'features.0', { filters: inputChannel, stride: 2, activation: 'relu6', norm: TORCH_BN });
  let index = 1;
  for (const [t, c, n, s] of setting) {
    const out = makeDivisible(c * widthMult, round);
    for (let i = 0; i < n; i++) {
      x = invertedResidualV2(x, `features.${index++}`, inputChannel, out, i === 0 ? s : 1, t);
      inputChannel = out;
    }
  }
  x = conv2dNormActivation(x, `features.${index}`, { filters: lastChannel, kernelSize: 1, activation: 'relu6', norm: TORCH_BN });
  x = poolAndClassify(x, { includeTop: o.includeTop, numClasses: o.numClasses, dropout });
  return orderByCreation(tf.model({ inputs: input, outputs: x, name: o.name }));
}

/** MobileNetV2's InvertedResidual at `name`: [1×1 expand], 3×3 depthwise, 1×1 linear projection (`conv.N`), residual when shapes allow. */
function invertedResidualV2(x: tf.SymbolicTensor, name: string, inp: number, oup: number, stride: number, t: number): tf.SymbolicTensor {
  const hidden = Math.round(inp * t);
  let y = x;
  let i = 0;
  if (t !== 1) y = conv2dNormActivation(y, `${name}.conv.${i++}`, { filters: hidden, kernelSize: 1, activation: 'relu6', norm: TORCH_BN });
  y = conv2dNormActivation(y, `${name}.conv.${i++}`, { filters: hidden, stride, groups: hidden, activation: 'relu6', norm: TORCH_BN });
  // The projection is a bare Conv2d and BatchNorm2d (conv.i, conv.i+1), not a Conv2dNormActivation.
  y = applyTo(torchConv2d({ name: `${name}.conv.${i}`, filters: oup, kernelSize: 1, useBias: false }), y);
  y = applyTo(torchBatchNorm({ name: `${name}.conv.${i + 1}`, eps: TORCH_BN.eps, momentum: TORCH_BN.momentum }), y);
  return stride === 1 && inp === oup ? applyTo(tf.layers.add({ name: `${name}.add` }), [x, y]) : y;
}

/** One row of MobileNetV3's table (torchvision's InvertedResidualConfig before width scaling). */
interface V3Row { inp: number; kernel: number; expanded: number; out: number; se: boolean; hs: boolean; stride: number; dilated: boolean }

/** torchvision's `mobilenet_v3_*(...)` arguments, camel-cased, plus the zoo's options. */
export interface MobileNetV3Options extends VisionOptions {
  /** Channel multiplier (default 1). */
  widthMult?: number;
  /** Halve the channels of the last stage (segmentation backbones; default false). */
  reducedTail?: boolean;
  /** Dilation 2 instead of stride 2 in the last stage (segmentation backbones; default false). */
  dilated?: boolean;
  /** Dropout in the classifier (default 0.2). */
  dropout?: number;
}

function v3Rows(arch: 'large' | 'small', reducedTail: boolean): { rows: V3Row[]; lastChannel: number } {
  const r = reducedTail ? 2 : 1;
  const row = (inp: number, kernel: number, expanded: number, out: number, se: boolean, act: 'RE' | 'HS', stride: number, dilated = false): V3Row =>
    ({ inp, kernel, expanded, out, se, hs: act === 'HS', stride, dilated });
  if (arch === 'large') {
    return {
      rows: [
        row(16, 3, 16, 16, false, 'RE', 1), row(16, 3, 64, 24, false, 'RE', 2), row(24, 3, 72, 24, false, 'RE', 1),
        row(24, 5, 72, 40, true, 'RE', 2), row(40, 5, 120, 40, true, 'RE', 1), row(40, 5, 120, 40, true, 'RE', 1),
        row(40, 3, 240, 80, false, 'HS', 2), row(80, 3, 200, 80, false, 'HS', 1), row(80, 3, 184, 80, false, 'HS', 1),
        row(80, 3, 184, 80, false, 'HS', 1), row(80, 3, 480, 112, true, 'HS', 1), row(112, 3, 672, 112, true, 'HS', 1),
        row(112, 5, 672, 160 / r, true, 'HS', 2, true), row(160 / r, 5, 960 / r, 160 / r, true, 'HS', 1, true),
        row(160 / r, 5, 960 / r, 160 / r, true, 'HS', 1, true),
      ],
      lastChannel: 1280 / r,
    };
  }
  return {
    rows: [
      row(16, 3, 16, 16, true, 'RE', 2), row(16, 3, 72, 24, false, 'RE', 2), row(24, 3, 88, 24, false, 'RE', 1),
      row(24, 5, 96, 40, true, 'HS', 2), row(40, 5, 240, 40, true, 'HS', 1), row(40, 5, 240, 40, true, 'HS', 1),
      row(40, 5, 120, 48, true, 'HS', 1), row(48, 5, 144, 48, true, 'HS', 1), row(48, 5, 288, 96 / r, true, 'HS', 2, true),
      row(96 / r, 5, 576 / r, 96 / r, true, 'HS', 1, true), row(96 / r, 5, 576 / r, 96 / r, true, 'HS', 1, true),
    ],
    lastChannel: 1024 / r,
  };
}

/** MobileNetV3's BatchNorm2d: eps 1e-3, momentum 0.01. */
const V3_BN: NormSpec = { eps: 0.001, momentum: 0.01 };

function mobilenetV3(variant: 'large' | 'small', opts: MobileNetV3Options): tf.LayersModel {
  const arch = opts.name ?? `mobilenet_v3_${variant}`;
  const o = visionDefaults(opts, arch);
  const widthMult = positive(opts.widthMult ?? 1, arch, 'widthMult');
  const dropout = rate(opts.dropout ?? 0.2, arch);
  const adjust = (c: number) => makeDivisible(c * widthMult, 8);
  const { rows, lastChannel } = v3Rows(variant, opts.reducedTail ?? false);

  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x = conv2dNormActivation(input, 'features.0', { filters: adjust(rows[0].inp), stride: 2, activation: 'hardswish', norm: V3_BN });
  rows.forEach((r, i) => {
    x = invertedResidualV3(x, `features.${i + 1}`, {
      ...r, inp: adjust(r.inp), expanded: adjust(r.expanded), out: adjust(r.out), dilation: r.dilated && opts.dilated ? 2 : 1,
    });
  });
  const lastConv = 6 * adjust(rows[rows.length - 1].out);
  x = conv2dNormActivation(x, `features.${rows.length + 1}`, { filters: lastConv, kernelSize: 1, activation: 'hardswish', norm: V3_BN });
  x = applyTo(torchAdaptiveAvgPool2d({ name: 'avgpool', outputSize: 1 }), x);
  x = applyTo(torchFlatten({ name: 'flatten' }), x);
  if (o.includeTop) {
    // last_channel is width-scaled in torchvision too (adjust_channels(1280 // reduce_divider)).
    x = linear(x, 'classifier.0', adjust(lastChannel));
    x = applyTo(torchActivation('hardswish', { name: 'classifier.1' }), x);
    x = applyTo(tf.layers.dropout({ name: 'classifier.2', rate: dropout }), x);
    x = linear(x, 'classifier.3', o.numClasses);
  }
  return orderByCreation(tf.model({ inputs: input, outputs: x, name: o.name }));
}

/** MobileNetV3's InvertedResidual at `name` (`block.N`): [1×1 expand], k×k depthwise, [squeeze-excitation], 1×1 projection, residual when shapes allow. */
function invertedResidualV3(x: tf.SymbolicTensor, name: string, c: Omit<V3Row, 'dilated'> & { dilation: number }): tf.SymbolicTensor {
  const activation = c.hs ? 'hardswish' : 'relu';
  let y = x;
  let i = 0;
  if (c.expanded !== c.inp) y = conv2dNormActivation(y, `${name}.block.${i++}`, { filters: c.expanded, kernelSize: 1, activation, norm: V3_BN });
  y = conv2dNormActivation(y, `${name}.block.${i++}`, {
    filters: c.expanded, kernelSize: c.kernel, stride: c.dilation > 1 ? 1 : c.stride, dilation: c.dilation, groups: c.expanded, activation, norm: V3_BN,
  });
  if (c.se) y = squeezeExcitation(y, `${name}.block.${i++}`, { squeezeChannels: makeDivisible(Math.floor(c.expanded / 4), 8), activation: 'relu', scaleActivation: 'hardsigmoid' });
  y = conv2dNormActivation(y, `${name}.block.${i}`, { filters: c.out, kernelSize: 1, activation: null, norm: V3_BN });
  return c.stride === 1 && c.inp === c.out ? applyTo(tf.layers.add({ name: `${name}.add` }), [y, x]) : y;
}

/** torchvision's mobilenet_v3_large: hardswish, squeeze-excitation with hardsigmoid, BatchNorm eps 1e-3 and momentum 0.01. */
export function mobilenetV3Large(opts: MobileNetV3Options = {}): tf.LayersModel {
  return mobilenetV3('large', opts);
}

/** torchvision's mobilenet_v3_small: hardswish, squeeze-excitation with hardsigmoid, BatchNorm eps 1e-3 and momentum 0.01. */
export function mobilenetV3Small(opts: MobileNetV3Options = {}): tf.LayersModel {
  return mobilenetV3('small', opts);
}

function positive(v: number, arch: string, what: string): number {
  if (!(v > 0) || !Number.isFinite(v)) throw new Error(`${arch}: ${what} must be a positive number, got ${v}`);
  return v;
}

function rate(v: number, arch: string): number {
  if (!(v >= 0 && v < 1)) throw new Error(`${arch}: dropout must be in [0, 1), got ${v}`);
  return v;
}
