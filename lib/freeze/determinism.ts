/**
 * Which layers compute the same output for the same input and weights while training: the
 * condition for train() to cache a frozen layer's output once instead of recomputing it every
 * step. One table keyed by layer class (TF.js 4.22's classes); a class not in it counts as
 * random until declared deterministic.
 */
import type * as tf from '@tensorflow/tfjs';

type Layer = tf.layers.Layer;

/** A class's behaviour in training: always the same, always random, or decided by the layer's config. */
export type Determinism = 'deterministic' | 'random' | ((layer: Layer) => string | undefined);

const DETERMINISTIC = [
  'InputLayer', 'Dense', 'EinsumDense', 'Flatten', 'Activation', 'RepeatVector', 'Reshape', 'Permute',
  'ZeroPadding2D', 'Cropping2D', 'UpSampling2D', 'Add', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate', 'Dot',
  'Embedding', 'PositionEmbedding', 'Conv1D', 'Conv2D', 'Conv3D', 'Conv2DTranspose', 'Conv3DTranspose', 'SeparableConv2D', 'DepthwiseConv2D',
  'LayerNormalization', 'MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D', 'AveragePooling1D', 'AveragePooling2D', 'AveragePooling3D',
  'GlobalAveragePooling1D', 'GlobalAveragePooling2D', 'GlobalMaxPooling1D', 'GlobalMaxPooling2D',
  'ReLU', 'LeakyReLU', 'PReLU', 'ELU', 'ThresholdedReLU', 'Softmax', 'Rescaling', 'Resizing', 'CenterCrop', 'CategoryEncoding',
  // The zoo's PyTorch-semantics layers (lib/models/layers).
  'TorchConv2D', 'TorchActivation', 'TorchFlatten', 'TorchMaxPool2D', 'TorchAvgPool2D', 'AdaptiveAvgPool2D',
] as const;

const RANDOM = ['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'SpatialDropout3D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'RandomWidth', 'RandomHeight', 'BaseRandomLayer'] as const;

/** Recurrent layers: deterministic without dropout, and when they keep no state between calls. */
const recurrent = (layer: Layer): string | undefined => {
  const c = configOf(layer) as { dropout?: number; recurrentDropout?: number; stateful?: boolean };
  if (c.stateful) return 'it is stateful';
  if ((c.dropout ?? 0) > 0 || (c.recurrentDropout ?? 0) > 0) return 'it has dropout';
  return undefined;
};

/** Wrappers: as deterministic as the layer they wrap. */
const wrapper = (layer: Layer): string | undefined => {
  const inner = (layer as unknown as { layer?: Layer; forwardLayer?: Layer; backwardLayer?: Layer });
  for (const l of [inner.layer, inner.forwardLayer, inner.backwardLayer]) {
    if (!l) continue;
    const why = randomnessOf(l);
    if (why) return `its ${l.getClassName()} ${why}`;
  }
  return undefined;
};

const TABLE = new Map<string, Determinism>([
  ...DETERMINISTIC.map((c) => [c, 'deterministic'] as [string, Determinism]),
  ...RANDOM.map((c) => [c, 'random'] as [string, Determinism]),
  ['SimpleRNN', recurrent], ['GRU', recurrent], ['LSTM', recurrent], ['RNN', recurrent], ['ConvLSTM2D', recurrent],
  ['TimeDistributed', wrapper], ['Bidirectional', wrapper],
  ['MultiHeadAttention', (l) => ((configOf(l) as { dropout?: number }).dropout ?? 0) > 0 ? 'it has dropout' : undefined],
]);

const declared = new WeakMap<Layer, boolean>();

/** Declares a layer class (by class name) or one layer instance deterministic (true) or random (false) in training, for classes train() does not know. */
export function declareDeterministic(target: string | Layer, deterministic = true): void {
  if (typeof target === 'string') TABLE.set(target, deterministic ? 'deterministic' : 'random');
  else declared.set(target, deterministic);
}

/**
 * Why `layer` may compute different outputs for the same input while training ("Dropout is
 * random in training"), or undefined when it never does. BatchNorm is judged elsewhere: it is
 * deterministic exactly when frozen in inference mode.
 */
export function randomnessOf(layer: Layer): string | undefined {
  const mine = declared.get(layer);
  if (mine !== undefined) return mine ? undefined : 'it is declared random';
  const cls = layer.getClassName();
  const d = TABLE.get(cls);
  if (d === 'deterministic') return undefined;
  if (d === 'random') return `${cls} is random in training`;
  if (typeof d === 'function') {
    const why = d(layer);
    return why ? `${cls}: ${why}` : undefined;
  }
  return `${cls} is not a layer class train() knows to be deterministic (declareDeterministic('${cls}') if its output depends only on its input and weights)`;
}

function configOf(layer: Layer): Record<string, unknown> {
  try {
    return layer.getConfig() as Record<string, unknown>;
  } catch {
    return {};
  }
}
