/**
 * BatchMatMul: the backend multiplies through XNNPACK only when neither operand is transposed
 * and both have batch 1; every other product goes to a blocked scalar loop with strided reads.
 * Here the operands are transposed first so that the product takes the fast path (both
 * dense-layer gradients are transposed products).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BACKEND, free, kernelFunc, type KernelArgs, type TensorInfo } from '../kernel-utils/util';
import { transpose } from './Transpose';

function swapLastTwo(backend: BackendWasm, x: TensorInfo): TensorInfo {
  const rank = x.shape.length;
  const perm = x.shape.map((_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return transpose({ inputs: { x }, backend, attrs: { perm } });
}

/**
 * The backend multiplies through XNNPACK only when neither operand is transposed and both have
 * batch 1; every other product goes to a blocked scalar loop, which is fastest with a
 * non-transposed `a` and a transposed `b` (both read along rows). Rewrites to those forms.
 */
export function batchMatMul(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs;
  const transposeA = attrs.transposeA === true;
  const transposeB = attrs.transposeB === true;
  const batchA = a.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  const batchB = b.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  const xnn = batchA === 1 && batchB === 1;
  const wantB = xnn ? false : true;
  if (!transposeA && transposeB === wantB) return kernelFunc('BatchMatMul')(args) as TensorInfo;
  const a2 = transposeA ? swapLastTwo(backend, a) : a;
  const b2 = transposeB !== wantB ? swapLastTwo(backend, b) : b;
  const out = kernelFunc('BatchMatMul')({
    inputs: { a: a2, b: b2 }, backend, attrs: { ...attrs, transposeA: false, transposeB: wantB },
  }) as TensorInfo;
  if (a2 !== a) free(backend, a2);
  if (b2 !== b) free(backend, b2);
  return out;
}

export const batchMatMulConfig: tf.KernelConfig = {
  kernelName: 'BatchMatMul',
  backendName: BACKEND,
  kernelFunc: batchMatMul as unknown as tf.KernelFunc,
};
