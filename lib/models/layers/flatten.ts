/**
 * nn.Flatten after a conv feature map: PyTorch flattens [n, c, h, w] in C, H, W order; TF.js's
 * Flatten of an NHWC map gives H, W, C. This layer gives PyTorch's order, so the Linear after it
 * takes PyTorch's weights unchanged (a plain Flatten works too: the loader reorders the Dense
 * kernel's rows when the Dense comes right after it).
 */
import * as tf from '@tensorflow/tfjs';
import { oneInput, oneShape, registerTorchLayer, type LayerArgs } from './base';

/** Flattens every axis after the batch in PyTorch's channels-first order. */
export class TorchFlatten extends tf.layers.Layer {
  static className = 'TorchFlatten';

  constructor(args: LayerArgs = {}) {
    super(args);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [n, ...rest] = oneShape(inputShape);
    return [n, rest.some((d) => d === null) ? null : rest.reduce((a, b) => (a as number) * (b as number), 1)];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneInput(inputs, 'TorchFlatten');
      // Channels (last in TF.js) go first, as in PyTorch's [n, c, ...].
      const t = x.rank > 2 ? tf.transpose(x, [0, x.rank - 1, ...Array.from({ length: x.rank - 2 }, (_, i) => i + 1)]) : x;
      return tf.reshape(t, [x.shape[0], -1]);
    });
  }
}

registerTorchLayer(TorchFlatten, { weights: {}, torchModules: ['Flatten'] });

/** nn.Flatten() after a conv map, in PyTorch's C, H, W order. */
export function torchFlatten(args: LayerArgs = {}): TorchFlatten {
  return new TorchFlatten(args);
}
