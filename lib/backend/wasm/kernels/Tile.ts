/** Tile by block copies (the backend's computes an index per element, about 50 ns each). */
import * as tf from '@tensorflow/tfjs';
import { BACKEND, kernelFunc, type KernelArgs, type TensorInfo } from '../kernel-utils/util';

/**
 * Tile by block copies: each input row is copied once, then every finished block is doubled
 * with copyWithin. The backend's Tile computes an index per element (about 50 ns each: the
 * BatchNorm gradient's tiles of [1, 1, 1, C] took most of a training step).
 */
function tile(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  if (x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') {
    return kernelFunc('Tile')(args) as TensorInfo;
  }
  const reps = attrs.reps as number[];
  const rank = x.shape.length;
  const outShape = x.shape.map((d, i) => d * reps[i]);
  const out = backend.makeOutput(outShape, x.dtype);
  const total = outShape.reduce((p, d) => p * d, 1);
  if (total === 0) return out;
  if (rank === 0) {
    backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(x));
    return out;
  }
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  const srcStride = new Array<number>(rank);
  const dstStride = new Array<number>(rank);
  srcStride[rank - 1] = 1;
  dstStride[rank - 1] = 1;
  for (let d = rank - 2; d >= 0; d--) {
    srcStride[d] = srcStride[d + 1] * x.shape[d + 1];
    dstStride[d] = dstStride[d + 1] * outShape[d + 1];
  }
  const repeat = (start: number, block: number, times: number): void => {
    const end = start + block * times;
    let filled = start + block;
    while (filled < end) {
      const n = Math.min(filled - start, end - filled);
      dst.copyWithin(filled, start, start + n);
      filled += n;
    }
  };
  const fill = (d: number, s: number, o: number): void => {
    const len = x.shape[d];
    if (d === rank - 1) {
      if (len === 1) dst[o] = src[s];
      else dst.set(src.subarray(s, s + len), o);
    } else {
      for (let i = 0; i < len; i++) fill(d + 1, s + i * srcStride[d], o + i * dstStride[d]);
    }
    if (reps[d] > 1) repeat(o, len * dstStride[d], reps[d]);
  };
  fill(0, 0, 0);
  return out;
}

export const tileConfig: tf.KernelConfig = {
  kernelName: 'Tile',
  backendName: BACKEND,
  kernelFunc: tile as unknown as tf.KernelFunc,
};
