/**
 * Transpose by 4 × 4 SIMD blocks (../transpose-loop.ts) for the permutations that swap the
 * outer and inner of two or three merged axes, leading axes kept: weight layouts (PyTorch ↔
 * TF.js), matrix transposes, batched ones. The backend's own walks one element at a time
 * (about 2 ns each); other permutations still go to it.
 */
import * as tf from '@tensorflow/tfjs';
import { wasmLoops } from '../loops';
import { oitPlan } from '../transpose-loop';
import { BACKEND, kernelFunc, ptr, sizeOf, type KernelArgs, type TensorInfo } from '../kernel-utils/util';

/** Below this many values the backend's own is as fast. */
const MIN_VALUES = 256;

export function transpose(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  const perm = attrs.perm as number[];
  const plan = (x.dtype === 'float32' || x.dtype === 'int32') && sizeOf(x.shape) >= MIN_VALUES ? oitPlan(x.shape, perm) : null;
  if (plan == null) return kernelFunc('Transpose')(args) as TensorInfo;
  const out = backend.makeOutput(perm.map((p) => x.shape[p]), x.dtype);
  const src = ptr(backend, x);
  const dst = ptr(backend, out);
  const block = plan.o * plan.i * plan.t * 4;
  const loops = wasmLoops(backend);
  for (let b = 0; b < plan.batch; b++) loops.transposeOIT(src + b * block, dst + b * block, plan.o, plan.i, plan.t);
  return out;
}

export const transposeConfig: tf.KernelConfig = {
  kernelName: 'Transpose',
  backendName: BACKEND,
  kernelFunc: transpose as unknown as tf.KernelFunc,
};
