/**
 * Frozen BatchNorm: a layer that normalises with its moving statistics and never updates them.
 * TF.js's BatchNormalization (4.22) uses batch statistics and updates its moving mean and variance
 * whenever it is called with `training: true`, whatever its `trainable` flag says (as PyTorch's
 * BatchNorm does in train mode). Freezing patches the layer instance's `call` so that it always runs
 * in inference mode (PATCHES.batchNormCall in lib/patches); unfreezing restores it.
 */
import type * as tf from '@tensorflow/tfjs';
import { installPatch, PATCHES, type PatchHandle } from '../patches';
import { layerForm } from '../model/torch-layout';

const patched = new WeakMap<tf.layers.Layer, PatchHandle>();

/** Whether `layer` keeps running statistics (TF.js's BatchNormalization, tsfreeze's TorchBatchNorm: lib/model/torch-layout.ts says). */
export function isBatchNorm(layer: tf.layers.Layer): boolean {
  return Object.values(layerForm(layer.getClassName())?.weights ?? {}).some((w) => w.statistic);
}

/** Whether `layer` is patched to run in inference mode (frozen statistics). */
export function isBatchNormFrozen(layer: tf.layers.Layer): boolean {
  return patched.has(layer);
}

/** Makes a BatchNorm layer normalise with its moving statistics and stop updating them, even when training. */
export function freezeBatchNorm(layer: tf.layers.Layer): boolean {
  if (!isBatchNorm(layer)) throw new Error(`freezeBatchNorm: layer '${layer.name}' is a ${layer.getClassName()}, not a batch normalisation layer`);
  if (patched.has(layer)) return false;
  const handle = installPatch(PATCHES.batchNormCall, layer);
  if (handle == null) throw new Error(`freezeBatchNorm: cannot patch layer '${layer.name}'`);
  patched.set(layer, handle);
  return true;
}

/** Undoes freezeBatchNorm: the layer uses batch statistics and updates its moving ones when training. */
export function unfreezeBatchNorm(layer: tf.layers.Layer): boolean {
  const handle = patched.get(layer);
  if (!handle) return false;
  handle.undo();
  patched.delete(layer);
  return true;
}
