/**
 * Conv2DBackpropFilter (the wasm backend has none):
 *
 * dW[kh, kw, ci, co] = sum over n, oh, ow of x[n, oh*sh + kh - top, ow*sw + kw - left, ci] * dy[n, oh, ow, co]
 *
 * is a forward convolution of x with batch and channels swapped ([Ci, H, W, N]) by dy as the
 * filter ([OH, OW, N, Co]) dilated by the stride, giving [Ci, kh, kw, Co], which the backend
 * runs through XNNPACK. Computed when first used (../lazy.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { lazyKernel } from '../lazy';
import { wasmLoops } from '../loops';
import { gradientShape, MAX_PATCH_FLOATS } from '../kernel-utils/conv-geometry';
import { BACKEND, call, free, kernelFunc, ptr, requireFloat32, requireNHWC, type KernelArgs, type Pad, type Rounding, type Shape4, type TensorInfo } from '../kernel-utils/util';
import { transpose } from './Transpose';

function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  requireNHWC('Conv2DBackpropFilter', attrs.dataFormat);
  requireFloat32('Conv2DBackpropFilter', x, dy);
  const filterShape = attrs.filterShape as Shape4;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4, filterShape, attrs.strides as [number, number], 1, attrs.pad as Pad,
    attrs.dimRoundingMode as Rounding, false, 'channelsLast');
  const { inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const pixels = info.batchSize * oh * ow;
  if (ci === 1 && sh === 1 && sw === 1 && kh * kw * pixels <= MAX_PATCH_FLOATS) {
    // One input channel (a grayscale network's first layer): dW = colsT [kh * kw, pixels] x
    // dy [pixels, Co], a single XNNPACK product with no transposes (the convolution below
    // transposes dy and packs it twice).
    const colsT = backend.makeOutput([1, kh * kw, pixels], 'float32');
    wasmLoops(backend).im2colT1(ptr(backend, x), ptr(backend, colsT), info.batchSize, h, w, oh, ow, kh, kw, top, left);
    const b = call(backend, 'Reshape', { x: dy }, { shape: [1, pixels, co] });
    const product = kernelFunc('BatchMatMul')({ inputs: { a: colsT, b }, backend, attrs: { transposeA: false, transposeB: false } }) as TensorInfo;
    free(backend, colsT, b);
    const out = call(backend, 'Reshape', { x: product }, { shape: filterShape });
    free(backend, product);
    return out;
  }
  // Bottom/right padding that makes the output exactly kh x kw; negative means the last rows of
  // x are never read (valid padding with a stride that does not divide): compute them, slice.
  const bottom = kh + (oh - 1) * sh - h - top;
  const right = kw + (ow - 1) * sw - w - left;

  const xT = transpose({ inputs: { x }, backend, attrs: { perm: [3, 1, 2, 0] } });
  const dyT = transpose({ inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } });
  let conv = call(backend, 'Conv2D', { x: xT, filter: dyT }, {
    strides: [1, 1], dilations: [sh, sw], dataFormat: 'NHWC',
    pad: [[0, 0], [top, Math.max(bottom, 0)], [left, Math.max(right, 0)], [0, 0]],
  });
  free(backend, xT, dyT);
  if (bottom < 0 || right < 0) {
    const sliced = call(backend, 'Slice', { x: conv }, { begin: [0, 0, 0, 0], size: [ci, kh, kw, co] });
    free(backend, conv);
    conv = sliced;
  }
  const out = transpose({ inputs: { x: conv }, backend, attrs: { perm: [1, 2, 0, 3] } });
  free(backend, conv);
  return out;
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: BACKEND,
  kernelFunc: lazyKernel(conv2DBackpropFilter, gradientShape('conv', 'filter')) as unknown as tf.KernelFunc,
};
