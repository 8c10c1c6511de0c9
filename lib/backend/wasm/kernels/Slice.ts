/** Slice straight from the heap (the backend's copies its whole input out of the heap first). */
import * as tf from '@tensorflow/tfjs';
import { BACKEND, kernelFunc, type KernelArgs, type TensorInfo } from '../kernel-utils/util';

/**
 * Slice straight from the heap. The backend's Slice first copies the whole input out of the
 * heap (readSync) and then the slice: taking a batch of 32 from 768 images cost 2.5 ms. A slice
 * of the whole tensor shares its memory (tensors are immutable).
 */
function slice(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  if (x.dtype !== 'float32' && x.dtype !== 'int32' && x.dtype !== 'bool') {
    return kernelFunc('Slice')(args) as TensorInfo;
  }
  const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, attrs.begin as number[], attrs.size as number[]);
  if (size.every((d, i) => d === x.shape[i]) && size.length === x.shape.length) {
    // The whole tensor (predict's one batch of a small input): share its memory, as Identity does.
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
  }
  const out = backend.makeOutput(size, x.dtype);
  const total = size.reduce((p, d) => p * d, 1);
  if (total === 0) return out;
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  const rank = x.shape.length;
  const strides = tf.util.computeStrides(x.shape);
  if (rank === 0) {
    dst[0] = src[0];
    return out;
  }
  if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
    const from = tf.slice_util.computeFlatOffset(begin, strides);
    dst.set(src.subarray(from, from + total));
    return out;
  }
  // Copy rows of the last dimension, walking the other dimensions like an odometer.
  const row = size[rank - 1];
  const index = new Array<number>(rank - 1).fill(0);
  let o = 0;
  for (;;) {
    let from = begin[rank - 1];
    for (let d = 0; d < rank - 1; d++) from += (begin[d] + index[d]) * strides[d];
    if (row < 16) for (let k = 0; k < row; k++) dst[o + k] = src[from + k];
    else dst.set(src.subarray(from, from + row), o);
    o += row;
    let d = rank - 2;
    while (d >= 0 && ++index[d] === size[d]) index[d--] = 0;
    if (d < 0) break;
  }
  return out;
}

export const sliceConfig: tf.KernelConfig = {
  kernelName: 'Slice',
  backendName: BACKEND,
  kernelFunc: slice as unknown as tf.KernelFunc,
};
