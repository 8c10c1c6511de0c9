/** A TF.js model's weights as a StateDict, in TF.js's or PyTorch's naming and layout. */
import * as tf from '@tensorflow/tfjs';
import type { DType, HostTensor, StateDict } from '../statedict/tensor';
import { packParts, torchEntries } from './torch-entries';
import { weightSlots, type ModelLike, type WeightSlot } from './weights';

/** Which naming and layout a state dict of a model uses. */
export type Layout = 'tfjs' | 'torch';

/** The model's weights, copied to host memory, under structural keys (PyTorch keys and layouts with `layout: 'torch'`). */
export function stateDictOf(model: ModelLike, opts: { layout?: Layout } = {}): StateDict {
  const sd: StateDict = new Map();
  const slots = weightSlots(model);
  if (opts.layout === 'torch') {
    for (const e of torchEntries(slots)) sd.set(e.key, packParts(e, e.parts.map((s) => s.toTorch(hostOf(s)))));
  } else {
    for (const s of slots) sd.set(s.key, hostOf(s));
  }
  return sd;
}

/** A weight's current value in host memory. */
export function hostOf(s: WeightSlot): HostTensor {
  const t = s.read();
  try {
    return toHost(t);
  } finally {
    t.dispose();
  }
}

/** A tf.Tensor's value in host memory: a copy, never the backend's own buffer. */
export function toHost(t: tf.Tensor): HostTensor {
  // On the cpu backend dataSync() hands out the variable's storage; writing to it would change the model.
  const data = t.dataSync().slice();
  const dtype: DType = t.dtype === 'int32' ? 'int32' : t.dtype === 'bool' ? 'bool' : 'float32';
  return { dtype, shape: [...t.shape], data: data as HostTensor['data'] };
}
