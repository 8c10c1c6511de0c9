/** What tsfreeze's wasm kernels share: the backend's own kernels, heap access, argument checks. */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type TensorInfo = tf.TensorInfo;
export type Attrs = tf.NamedAttrMap;
export type Inputs = Record<string, TensorInfo>;
export type Shape4 = [number, number, number, number];
export type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
export type Rounding = 'floor' | 'round' | 'ceil' | undefined;
/** A kernel's arguments as TF.js passes them. */
export interface KernelArgs { inputs: Inputs; backend: BackendWasm; attrs: Attrs }
/** A kernel function of the wasm backend. */
export type WasmKernel = (args: KernelArgs) => TensorInfo;

export const BACKEND = 'wasm';

/** The backend's kernel configs that tsfreeze replaced, as they were (set by kernels/index.ts). */
let originals = new Map<string, tf.KernelConfig>();

/** Records the backend's own configs of the kernels tsfreeze replaced (an empty map when none are). */
export function useOriginalKernels(configs: Map<string, tf.KernelConfig>): void {
  originals = configs;
}

/** The backend's own kernel function `name` (its original when tsfreeze replaced it). */
export function kernelFunc(name: string): tf.KernelConfig['kernelFunc'] {
  const config = originals.get(name) ?? tf.getKernel(name, BACKEND);
  if (config == null) throw new Error(`tsfreeze: the wasm backend has no '${name}' kernel`);
  return config.kernelFunc;
}

/** Runs one of the backend's kernels on TensorInfos (no engine, no tape). */
export function call(backend: BackendWasm, name: string, inputs: Inputs, attrs: Attrs = {}): TensorInfo {
  return kernelFunc(name)({ inputs, backend, attrs }) as TensorInfo;
}

/** Frees intermediates made by the backend's kernels. */
export function free(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** A float32 tensor's values, in place in the backend's memory. */
export function heap(backend: BackendWasm, info: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** Byte offset of a tensor's data in the backend's memory (for loops.ts). */
export function ptr(backend: BackendWasm, info: TensorInfo): number {
  return backend.typedArrayFromHeap(info).byteOffset;
}

/** A number or [h, w] as [h, w]. */
export function pair(v: number | number[] | undefined): [number, number] {
  if (v == null) return [1, 1];
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/** Throws unless every tensor is float32. */
export function requireFloat32(kernel: string, ...infos: TensorInfo[]): void {
  for (const info of infos) {
    if (info.dtype !== 'float32') {
      throw new Error(`tsfreeze wasm ${kernel}: only float32 tensors are supported, got ${info.dtype}`);
    }
  }
}

/** Throws for NCHW data. */
export function requireNHWC(kernel: string, dataFormat: unknown): void {
  if (dataFormat === 'NCHW') {
    throw new Error(`tsfreeze wasm ${kernel}: dataFormat 'NCHW' is not supported (the wasm backend's Conv2D is NHWC only)`);
  }
}

/** The number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}
