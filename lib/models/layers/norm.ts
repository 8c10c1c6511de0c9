/**
 * PyTorch's normalisation layers in TF.js. BatchNorm: PyTorch's eps (1e-5, TF.js's default is
 * 1e-3) and momentum (0.1, weight of the new batch; TF.js's momentum is the weight of the old
 * value), and in training the running variance is updated with the unbiased batch variance, as
 * PyTorch does (TF.js uses the biased one). LayerNorm: PyTorch's eps.
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_FORM } from '../../model/torch-layout';
import { oneInput, oneShape, registerTorchLayer, type LayerArgs } from './base';

/** Arguments of torchBatchNorm, named as nn.BatchNorm2d's (camel-cased). */
export interface TorchBatchNormArgs extends LayerArgs {
  /** Default 1e-5. */
  eps?: number;
  /** Weight of the new batch in the running statistics (default 0.1). */
  momentum?: number;
  /** Learnable scale and shift (default true). */
  affine?: boolean;
}

/** nn.BatchNorm1d/2d/3d over the last axis (channels-last): weights gamma, beta, moving_mean, moving_variance. */
export class TorchBatchNorm extends tf.layers.Layer {
  static className = 'TorchBatchNorm';
  readonly eps: number;
  readonly momentum: number;
  readonly affine: boolean;
  private gamma?: tf.LayerVariable;
  private beta?: tf.LayerVariable;
  private movingMean?: tf.LayerVariable;
  private movingVariance?: tf.LayerVariable;

  constructor(args: TorchBatchNormArgs = {}) {
    super(args);
    this.eps = args.eps ?? 1e-5;
    this.momentum = args.momentum ?? 0.1;
    this.affine = args.affine ?? true;
    if (!(this.eps > 0)) throw new Error(`torchBatchNorm: eps must be > 0, got ${this.eps}`);
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new Error(`torchBatchNorm: momentum must be in [0, 1] (PyTorch's meaning: the new batch's weight), got ${this.momentum}`);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = oneShape(inputShape);
    const c = shape[shape.length - 1];
    if (c === null || c === undefined) throw new Error(`torchBatchNorm '${this.name}': the channel count (last axis) must be known`);
    if (this.affine) {
      this.gamma = this.addWeight('gamma', [c], 'float32', tf.initializers.ones());
      this.beta = this.addWeight('beta', [c], 'float32', tf.initializers.zeros());
    }
    this.movingMean = this.addWeight('moving_mean', [c], 'float32', tf.initializers.zeros(), undefined, false);
    this.movingVariance = this.addWeight('moving_variance', [c], 'float32', tf.initializers.ones(), undefined, false);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const x = oneInput(inputs, 'TorchBatchNorm');
    const gamma = this.gamma?.read();
    const beta = this.beta?.read();
    const rm = (this.movingMean as tf.LayerVariable).read();
    const rv = (this.movingVariance as tf.LayerVariable).read();
    if (!kwargs?.training) return tf.tidy(() => tf.batchNorm(x, rm, rv, beta, gamma, this.eps));
    return tf.tidy(() => {
      const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
      const n = x.size / (x.shape[x.rank - 1] as number);
      const { mean, variance } = tf.moments(x, axes);
      const y = tf.batchNorm(x, mean, variance, beta, gamma, this.eps);
      // The running statistics are not on the loss's path, so no gradient flows through them.
      const m = this.momentum;
      const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
      (this.movingMean as tf.LayerVariable).write(tf.add(tf.mul(rm, 1 - m), tf.mul(mean, m)));
      (this.movingVariance as tf.LayerVariable).write(tf.add(tf.mul(rv, 1 - m), tf.mul(unbiased, m)));
      return y;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), eps: this.eps, momentum: this.momentum, affine: this.affine };
  }
}

registerTorchLayer(TorchBatchNorm, BATCH_NORM_FORM);

/** nn.BatchNorm2d(C, eps, momentum, affine) as a TF.js layer over the last axis, with PyTorch's training semantics. */
export function torchBatchNorm(args: TorchBatchNormArgs = {}): TorchBatchNorm {
  return new TorchBatchNorm(args);
}

/** Arguments of torchLayerNorm. */
export interface TorchLayerNormArgs extends LayerArgs {
  /** Default 1e-5 (TF.js's default is 1e-3). */
  eps?: number;
}

/** nn.LayerNorm(lastDim, eps) as TF.js's LayerNormalization over the last axis with PyTorch's eps; weights gamma, beta. */
export function torchLayerNorm(args: TorchLayerNormArgs = {}): tf.layers.Layer {
  const { eps, ...rest } = args;
  return tf.layers.layerNormalization({ ...rest, axis: -1, epsilon: eps ?? 1e-5 });
}
