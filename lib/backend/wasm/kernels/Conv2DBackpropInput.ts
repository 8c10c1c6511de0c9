/**
 * Conv2DBackpropInput (the backend's own is a scalar loop): dx as a forward convolution of dy,
 * zero-stuffed by the stride and padded, by the rotated filter (XNNPACK), or as a matrix
 * product and col2im where that convolution would mostly multiply padding. Computed when first
 * used (../lazy.ts): a fused conv's input gradient in a network's first layer, which TF.js
 * computes and throws away, costs nothing.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { lazyKernel } from '../lazy';
import { wasmLoops } from '../loops';
import { gradientShape, MAX_PATCH_FLOATS } from '../kernel-utils/conv-geometry';
import { BACKEND, call, free, heap, kernelFunc, ptr, type KernelArgs, type Pad, type Rounding, type Shape4, type TensorInfo } from '../kernel-utils/util';
import { batchMatMul } from './BatchMatMul';

/**
 * Copies x [N, H, W, C] into a new [N, top + (H-1)*sh + 1 + bottom, left + (W-1)*sw + 1 + right, C]
 * tensor of zeros, input row h going to row top + h*sh (likewise columns). Negative pads crop.
 * This is the input of a transposed convolution written as a forward one.
 */
function dilateAndPad(
  backend: BackendWasm, x: TensorInfo, sh: number, sw: number,
  top: number, bottom: number, left: number, right: number,
): TensorInfo {
  const [n, h, w, c] = x.shape as Shape4;
  const oh = top + (h - 1) * sh + 1 + bottom;
  const ow = left + (w - 1) * sw + 1 + right;
  if (oh <= 0 || ow <= 0) throw new Error('tsfreeze wasm: transposed convolution with an empty window');
  const out = backend.makeOutput([n, oh, ow, c], 'float32');
  const src = heap(backend, x);
  const dst = heap(backend, out);
  dst.fill(0);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < h; i++) {
      const r = top + i * sh;
      if (r < 0 || r >= oh) continue;
      for (let j = 0; j < w; j++) {
        const col = left + j * sw;
        if (col < 0 || col >= ow) continue;
        const s = ((b * h + i) * w + j) * c;
        const d = ((b * oh + r) * ow + col) * c;
        if (c === 1) dst[d] = src[s];
        else dst.set(src.subarray(s, s + c), d);
      }
    }
  }
  return out;
}

/**
 * dx = the correlation of dy, zero-stuffed by the stride and padded by (kernel - 1 - pad), with
 * the filter rotated by 180 degrees and its in/out channels swapped: a forward convolution.
 */
function conv2DBackpropInput(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  if (attrs.dataFormat === 'NCHW' || dy.dtype !== 'float32' || filter.dtype !== 'float32') {
    return kernelFunc('Conv2DBackpropInput')(args) as TensorInfo;
  }
  const inputShape = attrs.inputShape as Shape4;
  const info = tf.backend_util.computeConv2DInfo(
    inputShape, filter.shape as Shape4, attrs.strides as [number, number], 1, attrs.pad as Pad,
    attrs.dimRoundingMode as Rounding, false, 'channelsLast');
  const { inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  if (preferMatMul(info)) return conv2DBackpropInputByMatMul(backend, dy, filter, info);
  const top = kh - 1 - info.padInfo.top;
  const left = kw - 1 - info.padInfo.left;
  const bottom = h - (oh - 1) * sh - 1 + info.padInfo.top;
  const right = w - (ow - 1) * sw - 1 + info.padInfo.left;

  // One input channel (the gradient TF.js's fused conv computes for a network's input): a
  // convolution with one output channel is XNNPACK's worst case; a depthwise convolution of dy
  // by the flipped filter, summed over channels, is the same and 1.6 times faster.
  const single = info.inChannels === 1;
  const flipped = rotatedFilter(backend, filter);
  const convolve = (x: TensorInfo, pad: Pad): TensorInfo => single
    ? call(backend, 'DepthwiseConv2dNative', { x, filter: flipped }, { strides: [1, 1], dilations: [1, 1], pad: pad as tf.NamedAttrMap[string] })
    : call(backend, 'Conv2D', { x, filter: flipped }, { strides: [1, 1], dilations: [1, 1], dataFormat: 'NHWC', pad: pad as tf.NamedAttrMap[string] });
  let out: TensorInfo;
  if (sh === 1 && sw === 1 && top >= 0 && left >= 0 && bottom >= 0 && right >= 0) {
    out = convolve(dy, [[0, 0], [top, bottom], [left, right], [0, 0]]);
  } else {
    const stuffed = dilateAndPad(backend, dy, sh, sw, top, bottom, left, right);
    out = convolve(stuffed, 'valid');
    free(backend, stuffed);
  }
  free(backend, flipped);
  if (single) {
    const summed = call(backend, 'Sum', { x: out }, { axis: [3], keepDims: true });
    free(backend, out);
    out = summed;
  }
  return out;
}

/**
 * The filter [kh, kw, ci, co] rotated by 180 degrees with its channels swapped: [kh, kw, co, ci].
 * One pass; TF.js's wasm Reverse alone takes about 24 ns an element.
 */
function rotatedFilter(backend: BackendWasm, filter: TensorInfo): TensorInfo {
  const [kh, kw, ci, co] = filter.shape as Shape4;
  const out = backend.makeOutput([kh, kw, co, ci], 'float32');
  const src = heap(backend, filter);
  const dst = heap(backend, out);
  const taps = kh * kw;
  const block = ci * co;
  for (let t = 0; t < taps; t++) {
    const from = (taps - 1 - t) * block;
    const to = t * block;
    for (let c = 0; c < ci; c++) {
      for (let o = 0; o < co; o++) dst[to + o * ci + c] = src[from + c * co + o];
    }
  }
  return out;
}

/**
 * Whether dx is cheaper as a matrix product and col2im than as the forward convolution of the
 * padded (and, for strides, zero-stuffed) dy. The convolution makes kh * kw * Co multiply-adds
 * for each of dx's N * H * W * Ci values, most of them on padding when the window is large next
 * to dy (LeNet5's second layer: twice the work) or when the stride is not 1 (sh * sw times);
 * the product makes exactly dy's, plus one add per patch value.
 */
function preferMatMul(info: tf.backend_util.Conv2DInfo): boolean {
  const pixels = info.batchSize * info.outHeight * info.outWidth;
  const patch = info.filterHeight * info.filterWidth * info.inChannels;
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1 || pixels * patch > MAX_PATCH_FLOATS) return false;
  return info.inHeight * info.inWidth > 1.3 * info.outHeight * info.outWidth;
}

/**
 * dx as cols = dy [N * OH * OW, Co] x filter^T [Co, kh * kw * Ci] (XNNPACK), then each row of
 * cols (one output pixel's patch of input gradients) added into dx at its window (col2im, a
 * SIMD loop in ../loops.ts).
 */
function conv2DBackpropInputByMatMul(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const pixels = n * oh * ow;
  const patch = kh * kw * ci;
  const a = call(backend, 'Reshape', { x: dy }, { shape: [1, pixels, co] });
  const b = call(backend, 'Reshape', { x: filter }, { shape: [1, patch, co] });
  const cols = batchMatMul({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: true } });
  free(backend, a, b);
  const out = backend.makeOutput([n, h, w, ci], 'float32');
  wasmLoops(backend).col2im(ptr(backend, cols), ptr(backend, out), n, h, w, ci, oh, ow, kh, kw, sh, sw, info.padInfo.top, info.padInfo.left);
  free(backend, cols);
  return out;
}

export const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: BACKEND,
  kernelFunc: lazyKernel(conv2DBackpropInput, gradientShape('conv', 'input')) as unknown as tf.KernelFunc,
};
