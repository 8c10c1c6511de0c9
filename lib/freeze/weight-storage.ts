/**
 * A weight's storage as the frozen-weight guard sees it: its values read without a copy where
 * the backend allows, and a token that says "these values cannot have changed" without reading.
 *
 * Why a token is sound: TF.js never writes into a tensor's storage once it exists. A kernel
 * writes a new output, and Variable.assign() (what optimizers, BatchNorm's statistics updates,
 * layer.setWeights() and loadStateDict use) points the variable at that output's new dataId.
 * So while a variable still holds the same dataId, its values are the same, unless code outside
 * TF.js's tensor API wrote into the storage itself. On the cpu backend any caller can: dataSync()
 * and bufferSync() hand out the storage array. The wasm, webgpu and tensorflow backends hand out
 * copies (webgpu: of a GPU buffer that kernels read), so there only the backend's internals
 * can; the guard's periodic full comparison (guard.ts) is the backstop for that.
 */
import * as tf from '@tensorflow/tfjs';
import type { WeightSlot } from '../model/weights';

/** A weight's values: float32 and int32 weights as Float32Array / Int32Array, bool as Uint8Array. */
export type WeightValues = Float32Array | Int32Array | Uint8Array;

/** Backends on which JavaScript never holds a tensor's storage: every read is a copy. */
const COPY_ON_READ_BACKENDS = ['wasm', 'webgpu', 'tensorflow'] as const;

function holderOf(t: tf.Tensor): tf.KernelBackend | undefined {
  return tf.engine().state.tensorInfo.get(t.dataId)?.backend;
}

function isBackend(b: tf.KernelBackend, name: string): boolean {
  // The registry, not tf.findBackend(): findBackend initialises a registered backend as a side effect.
  return tf.engine().registry[name] === b;
}

/**
 * An object that stays the same while `v`'s values cannot have changed (its storage's dataId), or
 * undefined where they could change without it: a disposed variable, or storage on a backend
 * whose reads hand out the storage itself (cpu), which then has to be compared value by value.
 */
export function storageToken(v: tf.Variable): object | undefined {
  if (v.isDisposed) return undefined;
  const holder = holderOf(v);
  if (holder === undefined) return undefined;
  return COPY_ON_READ_BACKENDS.some((name) => isBackend(holder, name)) ? v.dataId : undefined;
}

/**
 * The weight's current values, without a copy where the backend allows (the wasm heap, the cpu
 * backend's array): use them at once, before any other TF.js call, and never write to them.
 */
export function peekValues(slot: WeightSlot): WeightValues {
  const v = slot.variable;
  const holder = v.isDisposed ? undefined : holderOf(v);
  if (holder !== undefined && isBackend(holder, 'wasm') && (v.dtype === 'float32' || v.dtype === 'int32' || v.dtype === 'bool')) {
    const heap = holder as unknown as { typedArrayFromHeap?: (t: tf.TensorInfo) => WeightValues };
    // A view of the WebAssembly heap: dataSync() would copy it out first.
    if (typeof heap.typedArrayFromHeap === 'function') return heap.typedArrayFromHeap({ dataId: v.dataId, shape: v.shape, dtype: v.dtype });
  }
  const t = slot.read();
  try {
    return t.dataSync() as WeightValues;
  } finally {
    t.dispose();
  }
}
