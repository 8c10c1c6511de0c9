/**
 * ClipByValue to [0, 6] (TF.js's ReLU layer with maxValue 6 is Relu then this) folded into a
 * pending convolution as ReLU6; other ranges go to the backend's own.
 */
import * as tf from '@tensorflow/tfjs';
import { activationKernel } from '../kernel-utils/fused-activation';
import { BACKEND } from '../kernel-utils/util';

export const clipByValueConfig: tf.KernelConfig = {
  kernelName: 'ClipByValue',
  backendName: BACKEND,
  kernelFunc: activationKernel('ClipByValue', (current, attrs) =>
    (attrs.clipValueMin === 0 && attrs.clipValueMax === 6 ? 'relu6' : null)) as unknown as tf.KernelFunc,
};
