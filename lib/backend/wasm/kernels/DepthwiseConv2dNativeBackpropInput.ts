/** DepthwiseConv2dNativeBackpropInput (the wasm backend has none): a loop over the heap, computed when first used (../lazy.ts). */
import * as tf from '@tensorflow/tfjs';
import { lazyKernel } from '../lazy';
import { depthwiseInfo, gradientShape } from '../kernel-utils/conv-geometry';
import { BACKEND, heap, requireFloat32, type KernelArgs, type Shape4, type TensorInfo } from '../kernel-utils/util';

/** dx[n, h, w, c] = sum over taps and multipliers m of dy[n, oh, ow, c*M + m] * W[i, j, c, m]. */
function depthwiseBackpropInput(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  requireFloat32('DepthwiseConv2dNativeBackpropInput', dy, filter);
  const info = depthwiseInfo(attrs.inputShape as Shape4, filter.shape as Shape4, attrs);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const m = info.outChannels / c;
  const cm = c * m;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const out = backend.makeOutput([n, h, w, c], 'float32');
  const dx = heap(backend, out);
  const g = heap(backend, dy);
  const f = heap(backend, filter);
  dx.fill(0);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        const gOff = ((b * oh + y) * ow + x) * cm;
        for (let i = 0; i < kh; i++) {
          const r = y * sh + i * dh - top;
          if (r < 0 || r >= h) continue;
          for (let j = 0; j < kw; j++) {
            const col = x * sw + j * dw - left;
            if (col < 0 || col >= w) continue;
            const dOff = ((b * h + r) * w + col) * c;
            const fOff = (i * kw + j) * cm;
            if (m === 1) {
              for (let k = 0; k < c; k++) dx[dOff + k] += g[gOff + k] * f[fOff + k];
            } else {
              for (let k = 0; k < c; k++) {
                let acc = 0;
                const base = k * m;
                for (let q = 0; q < m; q++) acc += g[gOff + base + q] * f[fOff + base + q];
                dx[dOff + k] += acc;
              }
            }
          }
        }
      }
    }
  }
  return out;
}

export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: BACKEND,
  kernelFunc: lazyKernel(depthwiseBackpropInput, gradientShape('depthwise', 'input')) as unknown as tf.KernelFunc,
};
