/** detach(x): PyTorch's tensor.detach() for TF.js (which has no stopGradient): same values, zero gradient. */
import * as tf from '@tensorflow/tfjs';

const stop = tf.customGrad((...inputs) => {
  const x = inputs[0] as tf.Tensor;
  return { value: x.clone(), gradFunc: () => tf.zerosLike(x) };
});

/** `x` unchanged in the forward pass; no gradient flows back through it. */
export function detach<T extends tf.Tensor>(x: T): T {
  return stop(x) as T;
}
