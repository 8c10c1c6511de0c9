/**
 * Loading TF.js's WebAssembly backend in Node: the package is required lazily (importing it
 * registers a 'wasm' backend with TF.js, which would change what TF.js picks by default), its
 * binaries are located through require.resolve, its threaded build is enabled when
 * TSFREEZE_WASM_THREADS asks for more than one thread, and the training kernels are registered.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { registerWasmTrainingKernels, type WasmKernelOptions, type WasmKernelReport } from './kernels';
import { enableWasmThreads, wasmThreadsWanted } from './threads';

export const WASM_PACKAGE = '@tensorflow/tfjs-backend-wasm';

type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');

let wasmModule: WasmModule | null = null;
let kernels: WasmKernelReport | null = null;

/** The folder holding tfjs-backend-wasm.wasm and tfjs-backend-wasm-simd.wasm. */
export function wasmBinaryDir(): string {
  return path.dirname(require.resolve(`${WASM_PACKAGE}/dist/tfjs-backend-wasm.wasm`));
}

/**
 * Requires the wasm backend package (once), points it at its binaries and registers the
 * training kernels. Does not switch backends.
 */
export function loadWasmBackend(options: WasmKernelOptions = {}): { module: WasmModule; kernels: WasmKernelReport } {
  if (wasmModule == null) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(WASM_PACKAGE) as WasmModule;
    mod.setWasmPaths(wasmBinaryDir() + path.sep);
    // Before the backend is first initialised (findBackend would initialise it): it starts
    // XNNPACK's threads then.
    if (tf.engine().registry.wasm == null) enableWasmThreads(mod, wasmThreadsWanted());
    wasmModule = mod;
  }
  if (kernels == null) kernels = registerWasmTrainingKernels(options);
  return { module: wasmModule, kernels };
}

/** Threads and SIMD of the initialised wasm backend. */
export async function wasmFeatures(): Promise<{ threads: number; simd: boolean }> {
  const mod = loadWasmBackend().module;
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const multithread = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
  return { threads: multithread ? mod.getThreadsCount() : 1, simd };
}
