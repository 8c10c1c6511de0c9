/** Relu, Relu6 and ClipByValue(0, 6) of a pending convolution: the convolution with XNNPACK's clamp (fused-conv.ts). */
import { settle } from '../lazy';
import { convRecipeOf, deferConv, recording, type ConvActivation } from './fused-conv';
import { kernelFunc, type KernelArgs, type TensorInfo } from './util';

/**
 * A kernel that folds into a pending convolution the activation `activationOf` gives for the
 * convolution's current one (null: cannot fold), and otherwise runs the backend's `name`.
 */
export function activationKernel(name: string, activationOf: (current: ConvActivation, attrs: KernelArgs['attrs']) => ConvActivation | null) {
  return (args: KernelArgs): TensorInfo => {
    const { x } = args.inputs;
    const recipe = convRecipeOf(x.dataId);
    if (recipe) {
      // Under a gradient tape the activation's gradient reads its input: keep them apart.
      const act = recording() ? null : activationOf(recipe.activation, args.attrs);
      const out = act && deferConv(args.backend, { ...recipe, activation: act }, x.shape);
      if (out) return out;
      settle(x.dataId);
    }
    return kernelFunc(name)(args) as TensorInfo;
  };
}
