/** DepthwiseConv2dNativeBackpropFilter (the wasm backend has none): a loop over the heap into float64 sums, computed when first used (../lazy.ts). */
import * as tf from '@tensorflow/tfjs';
import { lazyKernel } from '../lazy';
import { depthwiseInfo, gradientShape } from '../kernel-utils/conv-geometry';
import { BACKEND, heap, requireFloat32, type KernelArgs, type Shape4, type TensorInfo } from '../kernel-utils/util';

/** dW[i, j, c, m] = sum over n, oh, ow of x[n, oh*sh + i*dh - top, ow*sw + j*dw - left, c] * dy[n, oh, ow, c*M + m]. */
function depthwiseBackpropFilter(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  requireFloat32('DepthwiseConv2dNativeBackpropFilter', x, dy);
  const filterShape = attrs.filterShape as Shape4;
  const info = depthwiseInfo(x.shape as Shape4, filterShape, attrs);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const m = filterShape[3];
  const cm = c * m;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const acc = new Float64Array(kh * kw * cm);
  const out = backend.makeOutput(filterShape, 'float32');
  const xs = heap(backend, x);
  const g = heap(backend, dy);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      for (let z = 0; z < ow; z++) {
        const gOff = ((b * oh + y) * ow + z) * cm;
        for (let i = 0; i < kh; i++) {
          const r = y * sh + i * dh - top;
          if (r < 0 || r >= h) continue;
          for (let j = 0; j < kw; j++) {
            const col = z * sw + j * dw - left;
            if (col < 0 || col >= w) continue;
            const xOff = ((b * h + r) * w + col) * c;
            const aOff = (i * kw + j) * cm;
            if (m === 1) {
              for (let k = 0; k < c; k++) acc[aOff + k] += xs[xOff + k] * g[gOff + k];
            } else {
              for (let k = 0; k < c; k++) {
                const v = xs[xOff + k];
                const base = k * m;
                for (let q = 0; q < m; q++) acc[aOff + base + q] += v * g[gOff + base + q];
              }
            }
          }
        }
      }
    }
  }
  heap(backend, out).set(acc);
  return out;
}

export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: BACKEND,
  kernelFunc: lazyKernel(depthwiseBackpropFilter, gradientShape('depthwise', 'filter')) as unknown as tf.KernelFunc,
};
