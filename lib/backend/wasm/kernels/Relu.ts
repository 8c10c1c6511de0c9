/** Relu: folded into a pending convolution (XNNPACK's clamp at 0), else the backend's own. */
import * as tf from '@tensorflow/tfjs';
import { activationKernel } from '../kernel-utils/fused-activation';
import { BACKEND } from '../kernel-utils/util';

export const reluConfig: tf.KernelConfig = {
  kernelName: 'Relu',
  backendName: BACKEND,
  kernelFunc: activationKernel('Relu', (current) => (current === 'linear' || current === 'relu' ? 'relu' : current)) as unknown as tf.KernelFunc,
};
