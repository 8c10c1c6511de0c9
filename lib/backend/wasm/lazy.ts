/**
 * Gradient kernels of the wasm backend whose output is computed when it is first used.
 *
 * TF.js computes some gradients nobody asked for. A fused convolution (conv + bias, the form
 * TF.js gives a Conv2D layer followed by its own activation layer) returns the gradients of its
 * input, filter and bias together, so the first layer of a network computes the gradient of the
 * network's input, and a frozen fused layer the gradient of its frozen filter; both are thrown
 * away. On wasm, LeNet5's input gradient was 1.8 ms of a 13 ms step.
 *
 * A lazy kernel returns a tensor whose memory is allocated but not yet written, and keeps its
 * inputs alive. The computation runs when the tensor is first used: as the input of a kernel
 * (`engine.runKernel`), or read back (`readSync`/`read`). A tensor disposed unused is never
 * computed, and its inputs are released then. The computation calls the backend's kernel
 * functions directly (no engine, no tape), so it may run in the middle of another kernel's call
 * without being recorded.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { installPatch, PATCHES } from '../../patches';

type TensorInfo = tf.TensorInfo;
type DataId = TensorInfo['dataId'];
type KernelArgs = { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs: tf.NamedAttrMap };

interface Pending {
  /** Computes the output and writes it into the placeholder's memory. */
  run: () => void;
  /** Releases the inputs kept alive for run. */
  release: () => void;
}

const pending = new Map<DataId, Pending>();

/** Counts since the process started (for tests and profiling): outputs deferred, computed, dropped unused. */
export const lazyCounts = { deferred: 0, computed: 0, dropped: 0 };

function settle(dataId: DataId): void {
  const entry = pending.get(dataId);
  if (entry === undefined) return;
  pending.delete(dataId);
  try {
    entry.run();
  } finally {
    entry.release();
  }
  lazyCounts.computed++;
}

/** Computes every pending tensor among a kernel's inputs. */
function settleInputs(inputs: unknown): void {
  if (pending.size === 0 || inputs == null || typeof inputs !== 'object') return;
  for (const value of Object.values(inputs as Record<string, unknown>)) {
    if (Array.isArray(value)) {
      for (const t of value) if (t != null) settle((t as TensorInfo).dataId);
    } else if (value != null && typeof value === 'object' && 'dataId' in value) {
      settle((value as TensorInfo).dataId);
    }
  }
}

/**
 * Installs, once per engine and per backend, the hooks that compute a pending tensor on first
 * use (lib/patches: PATCHES.engineRunKernel and PATCHES.wasmBackendData). False when they are
 * skipped (a TF.js version they were not checked against): kernels then run at once.
 */
function hook(backend: BackendWasm): boolean {
  const engine = installPatch(PATCHES.engineRunKernel, tf.engine(), (_kernelName, inputs) => settleInputs(inputs));
  const data = installPatch(PATCHES.wasmBackendData, backend, {
    beforeRead: settle,
    afterDispose(dataId, freed) {
      const entry = freed ? pending.get(dataId) : undefined;
      if (entry === undefined) return;
      pending.delete(dataId);
      entry.release();
      lazyCounts.dropped++;
    },
  });
  if (engine != null && data != null) return true;
  engine?.undo();
  data?.undo();
  return false;
}

/**
 * Wraps a kernel so that it runs on first use of its output. outputShape gives the (float32)
 * output's shape from the kernel's arguments without computing anything, or null to run the
 * kernel now; it should throw on arguments the kernel would reject, so that errors stay where
 * the kernel was called.
 */
export function lazyKernel(
  kernel: (args: KernelArgs) => TensorInfo,
  outputShape: (args: KernelArgs) => number[] | null,
): (args: KernelArgs) => TensorInfo {
  return (args) => {
    const { backend } = args;
    const shape = outputShape(args);
    if (shape === null || !hook(backend)) return kernel(args);
    const inputs = Object.values(args.inputs).filter((t): t is TensorInfo => t != null);
    for (const t of inputs) settle(t.dataId);
    const out = backend.makeOutput(shape, 'float32');
    // Kept alive until the output is computed or dropped: the engine may dispose them first.
    for (const t of inputs) backend.incRef(t.dataId);
    const frozen: KernelArgs = { inputs: { ...args.inputs }, backend, attrs: { ...args.attrs } };
    pending.set(out.dataId, {
      run: () => {
        const result = kernel(frozen);
        try {
          const into = backend.typedArrayFromHeap(out) as Float32Array;
          into.set(backend.typedArrayFromHeap(result) as Float32Array);
        } finally {
          backend.disposeData(result.dataId);
        }
      },
      release: () => {
        // When the engine disposed an input first, the backend kept it for us and the engine
        // still counts its buffer: freeing it here must also take it off the engine's books.
        for (const t of inputs) if (backend.disposeData(t.dataId)) tf.engine().removeDataId(t.dataId, backend);
      },
    });
    lazyCounts.deferred++;
    return out;
  };
}
