/**
 * DepthwiseConv2dNative, deferred: its output is pending with a recipe (../kernel-utils/fused-conv.ts), so that a
 * BatchNorm and an activation after it fold into one convolution; any other use computes it with
 * the backend's own fused convolution. Arguments it cannot defer go to the backend's kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { convRecipe, deferConv } from '../kernel-utils/fused-conv';
import { BACKEND, kernelFunc, type KernelArgs, type TensorInfo } from '../kernel-utils/util';

function depthwiseConv2dNative(args: KernelArgs): TensorInfo {
  const recipe = convRecipe(args.inputs, args.attrs, true);
  const out = recipe && deferConv(args.backend, recipe);
  return out ?? kernelFunc('DepthwiseConv2dNative')(args) as TensorInfo;
}

export const depthwiseConv2dNativeConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNative',
  backendName: BACKEND,
  kernelFunc: depthwiseConv2dNative as unknown as tf.KernelFunc,
};
