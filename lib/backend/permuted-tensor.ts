/**
 * A TF.js tensor made from a host tensor with its axes permuted, where that is fastest: on the
 * wasm backend the values are uploaded as they are and transposed in its memory (one SIMD pass:
 * wasm/kernels/Transpose.ts), instead of permuted on the host into a new array and then copied
 * in. This is the PyTorch → TF.js weight conversion of a load (resnet18: 4 × less work than the
 * host path on wasm). Exact: values are moved, never computed.
 */
import * as tf from '@tensorflow/tfjs';
import { asFloat32, asInt32 } from '../statedict/convert';
import { permute } from '../statedict/ops';
import type { HostTensor } from '../statedict/tensor';
import { oitPlan } from './wasm/transpose-loop';

/** `t` permuted by `perm` (result axis i is t's axis perm[i]) as a float32 or int32 tensor on the current backend. */
export function permutedTensor(t: HostTensor, perm: readonly number[], dtype: 'float32' | 'int32' = 'float32'): tf.Tensor {
  const data = t.data;
  const native = (dtype === 'float32' && data instanceof Float32Array) || (dtype === 'int32' && data instanceof Int32Array);
  if (native && tf.getBackend() === 'wasm' && oitPlan(t.shape, perm) != null) {
    return tf.tidy(() => tf.transpose(tf.tensor(data as Float32Array | Int32Array, t.shape, dtype), [...perm]));
  }
  // permute always makes a new array, so the tensor never shares the source's memory.
  const p = permute(t, perm);
  return tf.tensor(dtype === 'int32' ? asInt32(p, 'permutedTensor') : asFloat32(p), p.shape, dtype);
}
