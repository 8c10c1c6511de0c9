/**
 * dataSync() / arraySync() on @tensorflow/tfjs-backend-webgpu in Node.
 *
 * The backend's readSync() copies GPU buffers through an OffscreenCanvas, which Node lacks, so
 * every synchronous read (tsfreeze's stateDictOf, the frozen-weight guard, train()'s loss)
 * would throw. This replaces it, on one backend instance, with the same copy the backend's own
 * asynchronous read() makes (a staging buffer mapped for reading), finished synchronously with
 * waitForDawn() (PATCHES.webgpuReadSync in lib/patches). It uses the backend's internals of
 * tfjs-backend-webgpu 4.x, checked up front.
 * It also turns errors that WebGPU reports only as events (a failed validation, a lost device)
 * into exceptions at the next read, instead of silently wrong numbers.
 */
import * as tf from '@tensorflow/tfjs';
import { installPatch, PATCHES } from '../patches';
import { waitForDawn } from './dawn-events';

interface MappableBuffer {
  size: number;
  mapState: 'unmapped' | 'pending' | 'mapped';
  mapAsync(mode: number): Promise<void>;
  getMappedRange(): ArrayBuffer;
  unmap(): void;
}

interface TensorRecord {
  values: tf.backend_util.BackendValues | null;
  dtype: tf.DataType;
  resource?: unknown;
  complexTensorInfos?: { real: tf.TensorInfo; imag: tf.TensorInfo };
}

/** The parts of tfjs-backend-webgpu's WebGPUBackend that a synchronous read needs. */
interface WebGPUBackendInternals {
  readSync(dataId: object): tf.backend_util.BackendValues;
  read(dataId: object): Promise<tf.backend_util.BackendValues>;
  tensorMap: { get(dataId: object): TensorRecord };
  bufferManager: { acquireBuffer(size: number, usage: number): MappableBuffer; releaseBuffer(buffer: MappableBuffer): void };
  commandEncoder: { copyBufferToBuffer(src: unknown, srcOffset: number, dst: unknown, dstOffset: number, size: number): void };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  convertAndCacheOnCPU(dataId: object, values: tf.backend_util.BackendValues): tf.backend_util.BackendValues;
}

const NEEDED = ['tensorMap', 'bufferManager', 'ensureCommandEncoderReady', 'endComputePassEncoder', 'submitQueue', 'convertAndCacheOnCPU', 'read'] as const;

/** GPU buffer usage and map mode flags (the WebGPU spec's values, also on Dawn's globals). */
const MAP_READ = 0x0001;
const COPY_DST = 0x0008;
const MODE_READ = 0x0001;

/** Errors WebGPU reported as events since the last read; the device keeps its own list. */
export interface GPUErrorLog {
  take(): string[];
}

/** Makes `backend.readSync` work in Node (see the file comment) and surfaces `errors` at each read. */
export function enableSyncRead(backend: tf.KernelBackend, errors: GPUErrorLog): void {
  const b = backend as unknown as WebGPUBackendInternals;
  const missing = NEEDED.filter((k) => (b as unknown as Record<string, unknown>)[k] == null);
  if (missing.length) {
    throw new Error(`WebGPU: this @tensorflow/tfjs-backend-webgpu lacks ${missing.join(', ')}; tsfreeze's synchronous read is written for 4.x`);
  }
  const raise = (when: string): void => {
    const found = errors.take();
    if (found.length) throw new Error(`WebGPU reported ${found.length === 1 ? 'an error' : `${found.length} errors`} ${when}: ${found.slice(0, 3).join(' | ')}`);
  };

  const readSync = (dataId: object): tf.backend_util.BackendValues => {
    const record = b.tensorMap.get(dataId);
    if (record.values != null || record.dtype === 'string') return record.values as tf.backend_util.BackendValues;
    let values: tf.backend_util.BackendValues;
    if (record.dtype === 'complex64' && record.complexTensorInfos) {
      const re = readSync(record.complexTensorInfos.real.dataId) as Float32Array;
      const im = readSync(record.complexTensorInfos.imag.dataId) as Float32Array;
      values = tf.backend_util.mergeRealAndImagArrays(re, im);
    } else {
      const bytes = readBuffer(b, record.resource);
      if (bytes == null) {
        raise('while reading a tensor back');
        throw new Error('WebGPU: mapping a buffer for reading failed (was the device lost?)');
      }
      values = tf.util.convertBackendValuesAndArrayBuffer(bytes, record.dtype);
    }
    raise('while computing the tensor read back');
    return b.convertAndCacheOnCPU(dataId, values);
  };
  installPatch(PATCHES.webgpuReadSync, backend, {
    readSync: readSync as tf.KernelBackend['readSync'],
    read: (read) => async (dataId: object) => {
      const values = await read(dataId);
      raise('while computing the tensor read back');
      return values;
    },
  });
}

/** Copies a GPU buffer into host memory, synchronously; null when WebGPU refused to map it. */
function readBuffer(b: WebGPUBackendInternals, resource: unknown): ArrayBuffer | null {
  const buffer = resource as MappableBuffer | undefined;
  if (buffer == null || typeof buffer.size !== 'number' || typeof (buffer as { mapAsync?: unknown }).mapAsync !== 'function') {
    throw new Error('WebGPU: this tensor lives in a GPU texture, which tsfreeze cannot read synchronously; use await tensor.data()');
  }
  const staging = b.bufferManager.acquireBuffer(buffer.size, COPY_DST | MAP_READ);
  b.ensureCommandEncoderReady();
  b.endComputePassEncoder();
  b.commandEncoder.copyBufferToBuffer(buffer, 0, staging, 0, buffer.size);
  b.submitQueue();
  // Its rejection, if any, arrives as a microtask after this synchronous read: mapState says it first.
  staging.mapAsync(MODE_READ).catch(() => undefined);
  waitForDawn(() => staging.mapState !== 'pending', 'reading a tensor back from the GPU');
  if (staging.mapState !== 'mapped') {
    b.bufferManager.releaseBuffer(staging);
    return null;
  }
  const bytes = staging.getMappedRange().slice(0);
  staging.unmap();
  b.bufferManager.releaseBuffer(staging);
  return bytes;
}
