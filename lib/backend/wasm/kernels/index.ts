/**
 * tsfreeze's kernels for TF.js's WebAssembly backend, one file each in this folder (as in
 * tfjs-backend-wasm's own src/kernels/), and the one table that registers them.
 *
 * `@tensorflow/tfjs-backend-wasm` 4.22 runs forward passes well but cannot train a conv net: it
 * has no `Conv2DBackpropFilter`, no `DepthwiseConv2dNativeBackpropInput`/`...Filter` and no
 * `UnsortedSegmentSum` (the gradient of `gather`). Those are added. Kernels it has are replaced
 * where profiling a training step found them slow or wrong (each file says why): the
 * convolution gradients (as XNNPACK convolutions or products, computed when first used:
 * ../lazy.ts), transposed `BatchMatMul`, `MaxPoolGrad`, `Tile`, `Slice`, `Sum`/`Mean` over
 * leading axes, `Add`/`Sub`/`Multiply`/`RealDiv` with a vector, `FusedBatchNorm`, `Identity`.
 *
 * Kernels receive and return `TensorInfo`s of the wasm backend; the composite ones call the
 * backend's own kernel functions directly (no engine, no tape) and free their intermediates with
 * `disposeData`. Every kernel is checked against the cpu backend by test/unit/wasm-kernels.test.ts.
 * Registering goes through TF.js's kernel registry, as the patch PATCHES.wasmKernels
 * (lib/patches), which checks the package version and can be undone.
 */
import * as tf from '@tensorflow/tfjs';
import { installPatch, PATCHES, type KernelSet, type PatchHandle } from '../../../patches';
import { BACKEND, useOriginalKernels } from '../kernel-utils/util';
import { allowPendingInput, settleAll } from '../lazy';
import { addConfig } from './Add';
import { batchMatMulConfig } from './BatchMatMul';
import { clipByValueConfig } from './ClipByValue';
import { conv2DConfig } from './Conv2D';
import { conv2DBackpropFilterConfig } from './Conv2DBackpropFilter';
import { conv2DBackpropInputConfig } from './Conv2DBackpropInput';
import { depthwiseConv2dNativeBackpropFilterConfig } from './DepthwiseConv2dNativeBackpropFilter';
import { depthwiseConv2dNativeBackpropInputConfig } from './DepthwiseConv2dNativeBackpropInput';
import { depthwiseConv2dNativeConfig } from './DepthwiseConv2dNative';
import { fusedBatchNormConfig } from './FusedBatchNorm';
import { fusedConv2DConfig } from './FusedConv2D';
import { fusedDepthwiseConv2DConfig } from './FusedDepthwiseConv2D';
import { identityConfig } from './Identity';
import { maxPoolGradConfig } from './MaxPoolGrad';
import { meanConfig } from './Mean';
import { multiplyConfig } from './Multiply';
import { realDivConfig } from './RealDiv';
import { reluConfig } from './Relu';
import { relu6Config } from './Relu6';
import { sliceConfig } from './Slice';
import { subConfig } from './Sub';
import { sumConfig } from './Sum';
import { tileConfig } from './Tile';
import { transposeConfig } from './Transpose';
import { unsortedSegmentSumConfig } from './UnsortedSegmentSum';

/**
 * The registration table: 'add' where the backend has no such kernel, 'replace' where it has a
 * slower or wrong one; `pending`: the input the kernel may receive still pending, to fold it in
 * (../lazy.ts).
 */
const KERNELS: Array<{ config: tf.KernelConfig; mode: 'add' | 'replace'; pending?: string }> = [
  { config: conv2DBackpropFilterConfig, mode: 'add' },
  { config: depthwiseConv2dNativeBackpropInputConfig, mode: 'add' },
  { config: depthwiseConv2dNativeBackpropFilterConfig, mode: 'add' },
  { config: unsortedSegmentSumConfig, mode: 'add' },
  { config: conv2DBackpropInputConfig, mode: 'replace' },
  { config: batchMatMulConfig, mode: 'replace' },
  { config: maxPoolGradConfig, mode: 'replace' },
  { config: tileConfig, mode: 'replace' },
  { config: sliceConfig, mode: 'replace' },
  { config: sumConfig, mode: 'replace' },
  { config: meanConfig, mode: 'replace' },
  { config: addConfig, mode: 'replace' },
  { config: subConfig, mode: 'replace' },
  { config: multiplyConfig, mode: 'replace' },
  { config: realDivConfig, mode: 'replace' },
  { config: fusedBatchNormConfig, mode: 'replace', pending: 'x' },
  { config: identityConfig, mode: 'replace', pending: 'x' },
  { config: conv2DConfig, mode: 'replace' },
  { config: fusedConv2DConfig, mode: 'replace' },
  { config: depthwiseConv2dNativeConfig, mode: 'replace' },
  { config: fusedDepthwiseConv2DConfig, mode: 'replace' },
  { config: reluConfig, mode: 'replace', pending: 'x' },
  { config: relu6Config, mode: 'replace', pending: 'x' },
  { config: clipByValueConfig, mode: 'replace', pending: 'x' },
  { config: transposeConfig, mode: 'replace' },
];

/** The kernels tsfreeze adds to the wasm backend, which has none of them. */
export const ADDED_WASM_KERNELS: readonly string[] = KERNELS.filter((k) => k.mode === 'add').map((k) => k.config.kernelName);

/** The wasm backend's own kernels that tsfreeze replaces. */
export const REPLACED_WASM_KERNELS: readonly string[] = KERNELS.filter((k) => k.mode === 'replace').map((k) => k.config.kernelName);

export interface WasmKernelOptions {
  /** Also replace the backend's own kernels (default true); false adds only the missing gradients. */
  replaceSlow?: boolean;
}

export interface WasmKernelReport {
  /** Kernels the wasm backend lacked, now registered. */
  added: string[];
  /** Kernels of the wasm backend replaced by faster ones. */
  replaced: string[];
}

let registered: { handle: PatchHandle; set: KernelSet } | null = null;

/**
 * Registers tsfreeze's kernels for the 'wasm' backend. `@tensorflow/tfjs-backend-wasm` must have
 * been loaded first (its kernels are registered when it is imported). Idempotent; kernels that
 * already exist for 'wasm' under an added name (registered by someone else, or by a later
 * TF.js) are left alone.
 */
export function registerWasmTrainingKernels(options: WasmKernelOptions = {}): WasmKernelReport {
  if (registered) return { added: [...registered.set.added], replaced: [...registered.set.replaced] };
  if (tf.getKernel('Conv2D', BACKEND) == null) {
    throw new Error("tsfreeze: load '@tensorflow/tfjs-backend-wasm' before registering its training kernels");
  }
  const set: KernelSet = {
    backend: BACKEND,
    add: KERNELS.filter((k) => k.mode === 'add').map((k) => k.config),
    replace: options.replaceSlow === false ? [] : KERNELS.filter((k) => k.mode === 'replace').map((k) => k.config),
    added: [], replaced: [], originals: new Map(),
  };
  const handle = installPatch(PATCHES.wasmKernels, tf, set);
  if (handle == null) return { added: [], replaced: [] };
  useOriginalKernels(set.originals);
  for (const k of KERNELS) if (k.pending && set.replaced.includes(k.config.kernelName)) allowPendingInput(k.config.kernelName, k.pending);
  // The backend's Reshape only shares the input's memory (ops such as batchNorm reshape their result).
  if (set.replaced.length) allowPendingInput('Reshape', 'x');
  registered = { handle, set };
  return { added: [...set.added], replaced: [...set.replaced] };
}

/** Undoes registerWasmTrainingKernels (for comparisons and tests): restores the backend's own kernels. */
export function unregisterWasmTrainingKernels(): void {
  if (!registered) return;
  // The backend's own kernels know nothing of pending tensors.
  settleAll();
  for (const k of KERNELS) if (k.pending) allowPendingInput(k.config.kernelName, null);
  allowPendingInput('Reshape', null);
  registered.handle.undo();
  useOriginalKernels(new Map());
  registered = null;
}
