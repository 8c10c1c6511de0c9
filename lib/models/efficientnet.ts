/**
 * torchvision's EfficientNet B0–B7 in TF.js with PyTorch's keys: `features.0.0.weight`,
 * `features.2.0.block.0.0.weight`, `features.2.0.block.2.fc1.weight`, `classifier.1.weight`.
 * SiLU, squeeze-excitation with sigmoid, stochastic depth on the residual branches (random in
 * training, identity in eval, as in torchvision), dropout before the classifier.
 */
import * as tf from '@tensorflow/tfjs';
import { orderByCreation } from '../model/weights';
import { applyTo, conv2dNormActivation, squeezeExcitation, poolAndClassify, TORCH_BN, type NormSpec } from './blocks';
import { torchStochasticDepth } from './layers/regularization';
import { makeDivisible, visionDefaults, type VisionOptions } from './options';

/** The options of every EfficientNet builder (torchvision's keyword arguments, camel-cased). */
export interface EfficientNetOptions extends VisionOptions {
  /** Largest drop probability of stochastic depth, reached by the last block (default 0.2). */
  stochasticDepthProb?: number;
  /** Dropout before the classifier (default: the variant's, 0.2 for B0). */
  dropout?: number;
}

/** A whole EfficientNet (B0–B7) configuration: the scaling of the B0 table and the variant's defaults. */
export interface EfficientNetConfig extends EfficientNetOptions {
  widthMult: number;
  depthMult: number;
  /** BatchNorm2d's eps and momentum (default PyTorch's 1e-5 and 0.1; B5–B7: 1e-3 and 0.01). */
  norm?: NormSpec;
}

/** The B0 stages: expand ratio, kernel, stride, input channels, output channels, blocks. */
const B0_STAGES: Array<[expand: number, kernel: number, stride: number, inp: number, out: number, layers: number]> = [
  [1, 3, 1, 32, 16, 1], [6, 3, 2, 16, 24, 2], [6, 5, 2, 24, 40, 2], [6, 3, 2, 40, 80, 3],
  [6, 5, 1, 80, 112, 3], [6, 5, 2, 112, 192, 4], [6, 3, 1, 192, 320, 1],
];

/** An EfficientNet of any width and depth scaling (torchvision's EfficientNet with MBConv stages). */
export function efficientnet(cfg: EfficientNetConfig): tf.LayersModel {
  const arch = cfg.name ?? 'efficientnet';
  const o = visionDefaults(cfg, arch);
  for (const [k, v] of [['widthMult', cfg.widthMult], ['depthMult', cfg.depthMult]] as const) {
    if (!(v > 0) || !Number.isFinite(v)) throw new Error(`${arch}: ${k} must be a positive number, got ${v}`);
  }
  const sdProb = cfg.stochasticDepthProb ?? 0.2;
  if (!(sdProb >= 0 && sdProb <= 1)) throw new Error(`${arch}: stochasticDepthProb must be in [0, 1], got ${sdProb}`);
  const dropout = cfg.dropout ?? 0.2;
  if (!(dropout >= 0 && dropout < 1)) throw new Error(`${arch}: dropout must be in [0, 1), got ${dropout}`);
  const norm = cfg.norm ?? TORCH_BN;
  const channels = (c: number) => makeDivisible(c * cfg.widthMult, 8);
  const stages = B0_STAGES.map(([expand, kernel, stride, inp, out, layers]) => ({ expand, kernel, stride, inp: channels(inp), out: channels(out), layers: Math.ceil(layers * cfg.depthMult) }));
  const totalBlocks = stages.reduce((n, s) => n + s.layers, 0);

  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x = conv2dNormActivation(input, 'features.0', { filters: stages[0].inp, stride: 2, activation: 'silu', norm });
  let blockId = 0;
  stages.forEach((s, si) => {
    for (let b = 0; b < s.layers; b++) {
      const inp = b === 0 ? s.inp : s.out;
      x = mbConv(x, `features.${si + 1}.${b}`, { ...s, inp, stride: b === 0 ? s.stride : 1, sdProb: (sdProb * blockId) / totalBlocks, norm });
      blockId++;
    }
  });
  const last = stages[stages.length - 1].out;
  x = conv2dNormActivation(x, `features.${stages.length + 1}`, { filters: 4 * last, kernelSize: 1, activation: 'silu', norm });
  x = poolAndClassify(x, { includeTop: o.includeTop, numClasses: o.numClasses, dropout });
  return orderByCreation(tf.model({ inputs: input, outputs: x, name: o.name }));
}

interface MBConvArgs { expand: number; kernel: number; stride: number; inp: number; out: number; sdProb: number; norm: NormSpec }

/** torchvision's MBConv at `name` (`block.N`): [1×1 expand], k×k depthwise, squeeze-excitation (SiLU, sigmoid), 1×1 projection; residual through stochastic depth when shapes allow. */
function mbConv(x: tf.SymbolicTensor, name: string, a: MBConvArgs): tf.SymbolicTensor {
  const expanded = makeDivisible(a.inp * a.expand, 8);
  let y = x;
  let i = 0;
  if (expanded !== a.inp) y = conv2dNormActivation(y, `${name}.block.${i++}`, { filters: expanded, kernelSize: 1, activation: 'silu', norm: a.norm });
  y = conv2dNormActivation(y, `${name}.block.${i++}`, { filters: expanded, kernelSize: a.kernel, stride: a.stride, groups: expanded, activation: 'silu', norm: a.norm });
  y = squeezeExcitation(y, `${name}.block.${i++}`, { squeezeChannels: Math.max(1, Math.floor(a.inp / 4)), activation: 'silu', scaleActivation: 'sigmoid' });
  y = conv2dNormActivation(y, `${name}.block.${i}`, { filters: a.out, kernelSize: 1, activation: null, norm: a.norm });
  if (a.stride !== 1 || a.inp !== a.out) return y;
  y = applyTo(torchStochasticDepth({ name: `${name}.stochastic_depth`, p: a.sdProb, mode: 'row' }), y);
  return applyTo(tf.layers.add({ name: `${name}.add` }), [y, x]);
}

/** torchvision's variants: width and depth multipliers, dropout, BatchNorm. */
const VARIANTS = {
  b0: { widthMult: 1.0, depthMult: 1.0, dropout: 0.2 },
  b1: { widthMult: 1.0, depthMult: 1.1, dropout: 0.2 },
  b2: { widthMult: 1.1, depthMult: 1.2, dropout: 0.3 },
  b3: { widthMult: 1.2, depthMult: 1.4, dropout: 0.3 },
  b4: { widthMult: 1.4, depthMult: 1.8, dropout: 0.4 },
  b5: { widthMult: 1.6, depthMult: 2.2, dropout: 0.4, norm: { eps: 0.001, momentum: 0.01 } },
  b6: { widthMult: 1.8, depthMult: 2.6, dropout: 0.5, norm: { eps: 0.001, momentum: 0.01 } },
  b7: { widthMult: 2.0, depthMult: 3.1, dropout: 0.5, norm: { eps: 0.001, momentum: 0.01 } },
} satisfies Record<string, Omit<EfficientNetConfig, keyof VisionOptions>>;

function variant(v: keyof typeof VARIANTS, opts: EfficientNetOptions): tf.LayersModel {
  return efficientnet({ ...VARIANTS[v], ...opts, dropout: opts.dropout ?? VARIANTS[v].dropout, name: opts.name ?? `efficientnet_${v}` });
}

/** torchvision's efficientnet_b0 (dropout 0.2). */
export function efficientnetB0(opts: EfficientNetOptions = {}): tf.LayersModel { return variant('b0', opts); }
/** torchvision's efficientnet_b1: depth × 1.1. */
export function efficientnetB1(opts: EfficientNetOptions = {}): tf.LayersModel { return variant('b1', opts); }
/** torchvision's efficientnet_b2: width × 1.1, depth × 1.2, dropout 0.3. */
export function efficientnetB2(opts: EfficientNetOptions = {}): tf.LayersModel { return variant('b2', opts); }
/** torchvision's efficientnet_b3: width × 1.2, depth × 1.4, dropout 0.3. */
export function efficientnetB3(opts: EfficientNetOptions = {}): tf.LayersModel { return variant('b3', opts); }
/** torchvision's efficientnet_b4: width × 1.4, depth × 1.8, dropout 0.4. */
export function efficientnetB4(opts: EfficientNetOptions = {}): tf.LayersModel { return variant('b4', opts); }
/** torchvision's efficientnet_b5: width × 1.6, depth × 2.2, dropout 0.4, BatchNorm eps 1e-3 and momentum 0.01. */
export function efficientnetB5(opts: EfficientNetOptions = {}): tf.LayersModel { return variant('b5', opts); }
/** torchvision's efficientnet_b6: width × 1.8, depth × 2.6, dropout 0.5, BatchNorm eps 1e-3 and momentum 0.01. */
export function efficientnetB6(opts: EfficientNetOptions = {}): tf.LayersModel { return variant('b6', opts); }
/** torchvision's efficientnet_b7: width × 2, depth × 3.1, dropout 0.5, BatchNorm eps 1e-3 and momentum 0.01. */
export function efficientnetB7(opts: EfficientNetOptions = {}): tf.LayersModel { return variant('b7', opts); }
