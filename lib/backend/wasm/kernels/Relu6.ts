/** Relu6: folded into a pending convolution (XNNPACK's clamp to [0, 6]), else the backend's own. */
import * as tf from '@tensorflow/tfjs';
import { activationKernel } from '../kernel-utils/fused-activation';
import { BACKEND } from '../kernel-utils/util';

export const relu6Config: tf.KernelConfig = {
  kernelName: 'Relu6',
  backendName: BACKEND,
  kernelFunc: activationKernel('Relu6', () => 'relu6') as unknown as tf.KernelFunc,
};
