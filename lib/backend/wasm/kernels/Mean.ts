/** Mean over leading axes as a SIMD column sum into float64 (the backend transposes the reduced axes innermost first); other reductions go to the backend's own. */
import * as tf from '@tensorflow/tfjs';
import { reduceLeading } from '../kernel-utils/reduce-leading';
import { BACKEND } from '../kernel-utils/util';

export const meanConfig: tf.KernelConfig = {
  kernelName: 'Mean',
  backendName: BACKEND,
  kernelFunc: reduceLeading('Mean') as unknown as tf.KernelFunc,
};
