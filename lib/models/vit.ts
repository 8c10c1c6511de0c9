/**
 * torchvision's VisionTransformer in TF.js with PyTorch's keys, in PyTorch's order: `class_token`,
 * `conv_proj.weight`, `encoder.pos_embedding`, `encoder.layers.encoder_layer_0.ln_1.weight`,
 * `...self_attention.in_proj_weight` (query, key and value packed), `...self_attention.out_proj.weight`,
 * `...mlp.0.weight`, `...mlp.3.weight`, `encoder.ln.weight`, `heads.head.weight`. Images are NHWC.
 * Checkpoints of torchvision ≤ 0.12 name the MLP
 * `mlp.linear_1`/`mlp.linear_2`; loadStateDict renames those (VIT_LEGACY_RENAMES) and says so.
 */
import * as tf from '@tensorflow/tfjs';
import type { RenameRule } from '../statedict/rename';
import { orderByCreation } from '../model/weights';
import { withTorchVariants } from '../model/torch-variants';
import { torchActivation } from './layers/activation';
import { torchMultiheadAttention } from './layers/attention';
import { torchConv2d } from './layers/conv';
import { torchLayerNorm } from './layers/norm';
import { classToken, positionParameter, selectToken } from './layers/tokens';
import { visionDefaults, type VisionOptions } from './options';

/** The arguments of torchvision's `VisionTransformer(...)`, camel-cased, plus the zoo's options (numClasses, includeTop, name). */
export interface VisionTransformerOptions extends Omit<VisionOptions, 'inputShape'> {
  /** Height and width of the (square) input images; default 224. */
  imageSize?: number;
  patchSize: number;
  numLayers: number;
  numHeads: number;
  hiddenDim: number;
  mlpDim: number;
  /** Dropout after the position embedding, the attention and in the MLP (training only); default 0. */
  dropout?: number;
  /** Dropout on the attention probabilities (training only); default 0. */
  attentionDropout?: number;
  /** A pre-logits Linear + Tanh of this width before the head (`heads.pre_logits`); default none. */
  representationSize?: number;
  /** Input channels (default 3). torchvision's conv_proj always takes 3. */
  inChannels?: number;
}

/** The preset options of the named configurations (vitB16 and friends). */
export type VitPresetOptions = Partial<Pick<VisionTransformerOptions, 'imageSize' | 'dropout' | 'attentionDropout' | 'representationSize' | 'inChannels'>> & Omit<VisionOptions, 'inputShape'>;

/** torchvision ≤ 0.12 named MLPBlock's Linear layers `linear_1`/`linear_2` (0.13 made it an MLP: `0`, `3`; torchvision still renames the old names on load). */
export const VIT_LEGACY_RENAMES: RenameRule[] = [
  { pattern: /\.mlp\.linear_1\./, replacement: '.mlp.0.' },
  { pattern: /\.mlp\.linear_2\./, replacement: '.mlp.3.' },
];

function positiveInt(v: number | undefined, what: string): number {
  if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`visionTransformer: ${what} must be a positive integer, got ${v}`);
  return v as number;
}

/** A torchvision VisionTransformer: patchify convolution, class token, position embedding, pre-norm encoder blocks, class-token head. */
export function visionTransformer(opts: VisionTransformerOptions): tf.LayersModel {
  const arch = opts.name ?? 'vit';
  const imageSize = positiveInt(opts.imageSize ?? 224, 'imageSize');
  const patchSize = positiveInt(opts.patchSize, 'patchSize');
  const numLayers = positiveInt(opts.numLayers, 'numLayers');
  const numHeads = positiveInt(opts.numHeads, 'numHeads');
  const hiddenDim = positiveInt(opts.hiddenDim, 'hiddenDim');
  const mlpDim = positiveInt(opts.mlpDim, 'mlpDim');
  const inChannels = positiveInt(opts.inChannels ?? 3, 'inChannels');
  if (imageSize % patchSize) throw new Error(`visionTransformer: imageSize (${imageSize}) must be divisible by patchSize (${patchSize}), as in torchvision`);
  if (hiddenDim % numHeads) throw new Error(`visionTransformer: hiddenDim (${hiddenDim}) must be divisible by numHeads (${numHeads})`);
  const dropout = opts.dropout ?? 0;
  const attentionDropout = opts.attentionDropout ?? 0;
  for (const [p, what] of [[dropout, 'dropout'], [attentionDropout, 'attentionDropout']] as const) {
    if (!(p >= 0 && p < 1)) throw new Error(`visionTransformer: ${what} must be in [0, 1), got ${p}`);
  }
  if (opts.representationSize !== undefined) positiveInt(opts.representationSize, 'representationSize');
  const o = visionDefaults({ numClasses: opts.numClasses, includeTop: opts.includeTop, name: arch, inputShape: [imageSize, imageSize, inChannels] }, arch);
  const grid = imageSize / patchSize;
  const ln = (name: string) => torchLayerNorm({ name, eps: 1e-6 });
  const drop = (name: string, rate: number, x: tf.SymbolicTensor) => (rate > 0 ? (tf.layers.dropout({ name, rate }).apply(x) as tf.SymbolicTensor) : x);

  // Layers are created in PyTorch's registration order (a module's own parameters first), so the
  // state dict lists them as PyTorch does; they are applied in forward order below.
  const token = classToken({ name: 'class_token' });
  const convProj = torchConv2d({ name: 'conv_proj', filters: hiddenDim, kernelSize: patchSize, stride: patchSize });
  const positions = positionParameter({ name: 'encoder.pos_embedding' });

  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x = convProj.apply(input) as tf.SymbolicTensor;
  // [N, h, w, D] → [N, h·w, D]: PyTorch's reshape of [N, D, h, w] then permute gives the same row-major token order.
  x = tf.layers.reshape({ name: 'patches', targetShape: [grid * grid, hiddenDim] }).apply(x) as tf.SymbolicTensor;
  x = token.apply(x) as tf.SymbolicTensor;
  x = positions.apply(x) as tf.SymbolicTensor;
  x = drop('encoder.dropout', dropout, x);
  for (let i = 0; i < numLayers; i++) x = encoderBlock(x, `encoder.layers.encoder_layer_${i}`, { numHeads, hiddenDim, mlpDim, dropout, attentionDropout, ln, drop });
  x = ln('encoder.ln').apply(x) as tf.SymbolicTensor;
  x = selectToken({ name: 'class_token_out', index: 0 }).apply(x) as tf.SymbolicTensor;
  if (o.includeTop) {
    if (opts.representationSize !== undefined) {
      x = dense('heads.pre_logits', opts.representationSize, 'normal').apply(x) as tf.SymbolicTensor;
      x = torchActivation('tanh', { name: 'heads.act' }).apply(x) as tf.SymbolicTensor;
    }
    x = dense('heads.head', o.numClasses, 'zeros').apply(x) as tf.SymbolicTensor;
  }
  const model = orderByCreation(tf.model({ inputs: input, outputs: x, name: o.name }));
  return withTorchVariants(model, { renames: VIT_LEGACY_RENAMES });
}

interface BlockArgs {
  numHeads: number; hiddenDim: number; mlpDim: number; dropout: number; attentionDropout: number;
  ln: (name: string) => tf.layers.Layer;
  drop: (name: string, rate: number, x: tf.SymbolicTensor) => tf.SymbolicTensor;
}

/** A Linear with torchvision's ViT initialisation: xavier-uniform (MLP), truncated normal (pre-logits) or zeros (head). */
function dense(name: string, units: number, init: 'xavier' | 'normal' | 'zeros'): tf.layers.Layer {
  const kernelInitializer = init === 'zeros' ? tf.initializers.zeros() : init === 'normal' ? tf.initializers.varianceScaling({ scale: 1, mode: 'fanIn', distribution: 'truncatedNormal' }) : tf.initializers.glorotUniform({});
  const biasInitializer = init === 'xavier' ? tf.initializers.randomNormal({ stddev: 1e-6 }) : tf.initializers.zeros();
  return tf.layers.dense({ name, units, kernelInitializer, biasInitializer });
}

/** torchvision's EncoderBlock: x + attention(ln_1(x)), then y + mlp(ln_2(y)). */
function encoderBlock(input: tf.SymbolicTensor, name: string, a: BlockArgs): tf.SymbolicTensor {
  let x = a.ln(`${name}.ln_1`).apply(input) as tf.SymbolicTensor;
  x = torchMultiheadAttention({ name: `${name}.self_attention`, numHeads: a.numHeads, dropout: a.attentionDropout }).apply(x) as tf.SymbolicTensor;
  x = a.drop(`${name}.dropout`, a.dropout, x);
  x = tf.layers.add({ name: `${name}.add_1` }).apply([x, input]) as tf.SymbolicTensor;
  let y = a.ln(`${name}.ln_2`).apply(x) as tf.SymbolicTensor;
  y = dense(`${name}.mlp.0`, a.mlpDim, 'xavier').apply(y) as tf.SymbolicTensor;
  y = torchActivation('gelu', { name: `${name}.mlp.1` }).apply(y) as tf.SymbolicTensor;
  y = a.drop(`${name}.mlp.2`, a.dropout, y);
  y = dense(`${name}.mlp.3`, a.hiddenDim, 'xavier').apply(y) as tf.SymbolicTensor;
  y = a.drop(`${name}.mlp.4`, a.dropout, y);
  return tf.layers.add({ name: `${name}.add_2` }).apply([x, y]) as tf.SymbolicTensor;
}

/** torchvision's vit_b_16: patch 16, 12 layers, 12 heads, width 768, MLP 3072 (86.6 M parameters at 224 × 224). */
export function vitB16(opts: VitPresetOptions = {}): tf.LayersModel {
  return visionTransformer({ ...opts, name: opts.name ?? 'vit_b_16', patchSize: 16, numLayers: 12, numHeads: 12, hiddenDim: 768, mlpDim: 3072 });
}

/** torchvision's vit_b_32: patch 32, 12 layers, 12 heads, width 768, MLP 3072. */
export function vitB32(opts: VitPresetOptions = {}): tf.LayersModel {
  return visionTransformer({ ...opts, name: opts.name ?? 'vit_b_32', patchSize: 32, numLayers: 12, numHeads: 12, hiddenDim: 768, mlpDim: 3072 });
}

/** torchvision's vit_l_16: patch 16, 24 layers, 16 heads, width 1024, MLP 4096. */
export function vitL16(opts: VitPresetOptions = {}): tf.LayersModel {
  return visionTransformer({ ...opts, name: opts.name ?? 'vit_l_16', patchSize: 16, numLayers: 24, numHeads: 16, hiddenDim: 1024, mlpDim: 4096 });
}

/** torchvision's vit_l_32: patch 32, 24 layers, 16 heads, width 1024, MLP 4096. */
export function vitL32(opts: VitPresetOptions = {}): tf.LayersModel {
  return visionTransformer({ ...opts, name: opts.name ?? 'vit_l_32', patchSize: 32, numLayers: 24, numHeads: 16, hiddenDim: 1024, mlpDim: 4096 });
}

/** torchvision's vit_h_14: patch 14, 32 layers, 16 heads, width 1280, MLP 5120. */
export function vitH14(opts: VitPresetOptions = {}): tf.LayersModel {
  return visionTransformer({ ...opts, name: opts.name ?? 'vit_h_14', patchSize: 14, numLayers: 32, numHeads: 16, hiddenDim: 1280, mlpDim: 5120 });
}
