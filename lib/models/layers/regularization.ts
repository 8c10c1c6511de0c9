/**
 * Regularisers that only act in training: torchvision's StochasticDepth (EfficientNet's residual
 * branches), and the form of TF.js's own Dropout, which already is PyTorch's nn.Dropout (inverted
 * scaling by 1/(1 − p) in training, identity in eval).
 */
import * as tf from '@tensorflow/tfjs';
import { registerLayerForm } from '../../model/torch-layout';
import { oneInput, registerTorchLayer, type LayerArgs } from './base';

/** Arguments of torchStochasticDepth, named as torchvision.ops.StochasticDepth's. */
export interface StochasticDepthArgs extends LayerArgs {
  /** Probability of dropping the branch (0 ≤ p ≤ 1). */
  p: number;
  /** 'row': one draw per sample (default, EfficientNet's); 'batch': one draw for the whole batch. */
  mode?: 'row' | 'batch';
}

/** torchvision.ops.StochasticDepth: in training, zeroes the input per sample (or per batch) with probability p and scales survivors by 1/(1 − p); identity in eval. */
export class StochasticDepth extends tf.layers.Layer {
  static className = 'StochasticDepth';
  readonly p: number;
  readonly mode: 'row' | 'batch';

  constructor(args: StochasticDepthArgs) {
    super(args);
    if (!(args.p >= 0 && args.p <= 1)) throw new Error(`torchStochasticDepth: p must be in [0, 1], got ${args.p}`);
    const mode = args.mode ?? 'row';
    if (mode !== 'row' && mode !== 'batch') throw new Error(`torchStochasticDepth: mode must be 'row' or 'batch', got ${JSON.stringify(args.mode)}`);
    this.p = args.p;
    this.mode = mode;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    const x = oneInput(inputs, 'StochasticDepth');
    if (!kwargs?.training || this.p === 0) return x;
    return tf.tidy(() => {
      const survival = 1 - this.p;
      const shape = this.mode === 'row' ? [x.shape[0], ...x.shape.slice(1).map(() => 1)] : x.shape.map(() => 1);
      // Bernoulli(survival): ⌊u + survival⌋ is 1 with probability survival for u ~ U[0, 1).
      let keep: tf.Tensor = tf.floor(tf.add(tf.randomUniform(shape), survival));
      if (survival > 0) keep = tf.div(keep, survival);
      return tf.mul(x, keep);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), p: this.p, mode: this.mode };
  }
}

registerTorchLayer(StochasticDepth, { weights: {}, torchModules: ['StochasticDepth'] });
registerLayerForm('Dropout', { weights: {}, torchModules: ['Dropout'] });

/** torchvision.ops.StochasticDepth(p, mode) as a TF.js layer: random in training, identity in eval. */
export function torchStochasticDepth(args: StochasticDepthArgs): StochasticDepth {
  return new StochasticDepth(args);
}
