/** Multiply of a tensor and a vector of its last dimension by long rows (../kernel-utils/row-ops.ts); other shapes go to the backend's own. */
import * as tf from '@tensorflow/tfjs';
import { broadcastRows } from '../kernel-utils/row-ops';
import { BACKEND } from '../kernel-utils/util';

export const multiplyConfig: tf.KernelConfig = {
  kernelName: 'Multiply',
  backendName: BACKEND,
  kernelFunc: broadcastRows('Multiply') as unknown as tf.KernelFunc,
};
