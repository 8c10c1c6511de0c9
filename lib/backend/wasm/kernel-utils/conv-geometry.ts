/** Convolution geometry shared by the convolution kernels and their gradients. */
import * as tf from '@tensorflow/tfjs';
import { pair, type Attrs, type Inputs, type Pad, type Rounding, type Shape4 } from './util';

/** Floats of a patch matrix the gradient kernels may build, at most (64 MiB). */
export const MAX_PATCH_FLOATS = 16 * 2 ** 20;

/** Conv2DInfo of a depthwise convolution from a kernel's attributes. */
export function depthwiseInfo(
  xShape: Shape4, filterShape: Shape4, attrs: Attrs,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape, filterShape, attrs.strides as [number, number], pair(attrs.dilations as number | number[]),
    attrs.pad as Pad, attrs.dimRoundingMode as Rounding, true, 'channelsLast');
}

/**
 * The output shape of a convolution's gradient, to compute it on first use (../lazy.ts):
 * float32 NHWC only, else null (run now). The convolution's geometry is checked here, so that
 * bad arguments still fail where the kernel is called.
 */
export function gradientShape(kind: 'conv' | 'depthwise', of: 'input' | 'filter') {
  return ({ inputs, attrs }: { inputs: Inputs; attrs: Attrs }): number[] | null => {
    if (attrs.dataFormat === 'NCHW' || Object.values(inputs).some((t) => t.dtype !== 'float32')) return null;
    const shape = (of === 'input' ? attrs.inputShape : attrs.filterShape) as Shape4;
    const xShape = of === 'input' ? shape : inputs.x.shape as Shape4;
    const filterShape = of === 'filter' ? shape : inputs.filter.shape as Shape4;
    if (kind === 'depthwise') depthwiseInfo(xShape, filterShape, attrs);
    else {
      tf.backend_util.computeConv2DInfo(
        xShape, filterShape, attrs.strides as [number, number], 1, attrs.pad as Pad,
        attrs.dimRoundingMode as Rounding, false, 'channelsLast');
    }
    return shape.slice();
  };
}
