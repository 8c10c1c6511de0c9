/** UnsortedSegmentSum (the wasm backend has none; the gradient of gather, i.e. of embeddings). */
import * as tf from '@tensorflow/tfjs';
import { BACKEND, type KernelArgs, type TensorInfo } from '../kernel-utils/util';

/** out[s, ...] = sum of x[i, ...] over the i with segmentIds[i] == s (ids outside [0, numSegments) are dropped). */
function unsortedSegmentSum(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, segmentIds } = inputs;
  const numSegments = attrs.numSegments as number;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`tsfreeze wasm UnsortedSegmentSum: unsupported dtype ${x.dtype}`);
  }
  const idsRank = segmentIds.shape.length;
  const count = segmentIds.shape.reduce((p, d) => p * d, 1);
  const inner = x.shape.slice(idsRank).reduce((p, d) => p * d, 1);
  const out = backend.makeOutput([numSegments, ...x.shape.slice(idsRank)], x.dtype);
  const dst = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
  const src = backend.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array;
  dst.fill(0);
  for (let i = 0; i < count; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const d = s * inner;
    const o = i * inner;
    for (let k = 0; k < inner; k++) dst[d + k] += src[o + k];
  }
  return out;
}

export const unsortedSegmentSumConfig: tf.KernelConfig = {
  kernelName: 'UnsortedSegmentSum',
  backendName: BACKEND,
  kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
};
