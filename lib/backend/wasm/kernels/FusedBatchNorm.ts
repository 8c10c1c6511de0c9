/**
 * FusedBatchNorm (inference-style): folded into a pending convolution's weights outside gradient
 * recording (../kernel-utils/fused-conv.ts), else two row-wise ops (the backend's kernel: 4 ns
 * an element).
 */
import * as tf from '@tensorflow/tfjs';
import { settle } from '../lazy';
import { convRecipeOf, deferConv, normFits, recording, type NormStep } from '../kernel-utils/fused-conv';
import { rowsOp } from '../kernel-utils/row-ops';
import { BACKEND, free, heap, kernelFunc, type KernelArgs, type TensorInfo } from '../kernel-utils/util';

/**
 * Inference-style batch normalisation, x * a + b with a = scale / sqrt(variance + eps) and
 * b = offset - mean * a per channel, as two row-wise ops (the backend's kernel: 4 ns an element).
 */
function fusedBatchNorm(args: KernelArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, mean, variance, offset, scale } = inputs;
  const recipe = convRecipeOf(x.dataId);
  if (recipe) {
    const step: NormStep = { mean, variance, offset, scale, eps: (attrs.varianceEpsilon as number | undefined) ?? 0.001 };
    const channels = recipe.info.outChannels;
    if (!recording() && recipe.activation === 'linear' && x.shape[x.shape.length - 1] === channels && normFits(step, channels)) {
      const out = deferConv(backend, { ...recipe, norms: [...recipe.norms, step] }, x.shape);
      if (out) return out;
    }
    settle(x.dataId);
  }
  const rank = x.shape.length;
  const c = rank > 0 ? x.shape[rank - 1] : 0;
  const size = (t: TensorInfo | undefined): number => (t == null ? c : t.shape.reduce((p, d) => p * d, 1));
  const fits = (t: TensorInfo | undefined): boolean => t == null || (t.dtype === 'float32' && (size(t) === c || size(t) === 1) && (t.shape.length === 0 || t.shape[t.shape.length - 1] === size(t)));
  const n = x.shape.reduce((p, d) => p * d, 1);
  if (x.dtype !== 'float32' || c < 2 || n < 4096 || ![mean, variance, offset, scale].every(fits)) {
    return kernelFunc('FusedBatchNorm')(args) as TensorInfo;
  }
  const eps = (attrs.varianceEpsilon as number | undefined) ?? 0.001;
  const read = (t: TensorInfo | undefined, fallback: number): (i: number) => number => {
    if (t == null) return () => fallback;
    const v = heap(backend, t);
    return v.length === 1 ? () => v[0] : (i) => v[i];
  };
  const m = read(mean, 0);
  const vr = read(variance, 1);
  const o = read(offset, 0);
  const sc = read(scale, 1);
  const a = new Float32Array(c);
  const b = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    const ai = sc(i) / Math.sqrt(vr(i) + eps);
    a[i] = ai;
    b[i] = o(i) - m(i) * ai;
  }
  const scaled = rowsOp(backend, 'Multiply', x, a, true);
  const out = rowsOp(backend, 'Add', scaled, b, true);
  free(backend, scaled);
  return out;
}

export const fusedBatchNormConfig: tf.KernelConfig = {
  kernelName: 'FusedBatchNorm',
  backendName: BACKEND,
  kernelFunc: fusedBatchNorm as unknown as tf.KernelFunc,
};
