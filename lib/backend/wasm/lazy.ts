/**
 * Tensors of the wasm backend whose values are computed when they are first used.
 *
 * TF.js computes some gradients nobody asked for. A fused convolution (conv + bias, the form
 * TF.js gives a Conv2D layer followed by its own activation layer) returns the gradients of its
 * input, filter and bias together, so the first layer of a network computes the gradient of the
 * network's input, and a frozen fused layer the gradient of its frozen filter; both are thrown
 * away. On wasm, LeNet5's input gradient was 1.8 ms of a 13 ms step. And a convolution followed
 * by a BatchNorm and an activation is one convolution with folded weights (kernel-utils/
 * fused-conv.ts), which only a kernel that sees the convolution before it runs can use.
 *
 * A pending tensor has its memory allocated but not yet written, and keeps what it is computed
 * from alive. It is computed when first used: as the input of a kernel (`engine.runKernel`), or
 * read (`readSync`, `read`, `typedArrayFromHeap`). A tensor disposed unused is never computed,
 * and what it kept is released then. A kernel named in allowPendingInput may receive one input
 * still pending, with its recipe (pendingRecipe), to fold it into its own output; it settles it
 * otherwise. The computation calls the backend's kernel functions directly (no engine, no
 * tape), so it may run in the middle of another kernel's call without being recorded.
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
  /** What the tensor is, for kernels that can fold it into theirs. */
  recipe?: object;
}

const pending = new Map<DataId, Pending>();
/** Kernel name → the input it may receive pending (when that input has a recipe). */
const absorbing = new Map<string, string>();
const freedListeners = new Set<(dataId: DataId) => void>();

/**
 * Counts since the process started (for tests and profiling): outputs deferred, computed, dropped
 * unused, and the milliseconds spent computing them (tf.profile counts none of it: a pending
 * tensor is computed before the kernel that uses it starts).
 */
export const lazyCounts = { deferred: 0, computed: 0, dropped: 0, ms: 0 };

/** Computes the tensor now if it is pending. */
export function settle(dataId: DataId): void {
  const entry = pending.get(dataId);
  if (entry === undefined) return;
  pending.delete(dataId);
  const start = performance.now();
  try {
    entry.run();
  } finally {
    entry.release();
  }
  lazyCounts.computed++;
  lazyCounts.ms += performance.now() - start;
}

/** Computes every pending tensor (before the kernels that know about them are unregistered). */
export function settleAll(): void {
  for (const dataId of [...pending.keys()]) settle(dataId);
}

/** The recipe of a pending tensor, when it was deferred with one. */
export function pendingRecipe(dataId: DataId): object | undefined {
  return pending.get(dataId)?.recipe;
}

/** Lets kernel `kernelName` receive its input `input` still pending when it has a recipe; null takes it back. */
export function allowPendingInput(kernelName: string, input: string | null): void {
  if (input === null) absorbing.delete(kernelName);
  else absorbing.set(kernelName, input);
}

/** Calls `listener` with the dataId of every tensor of the wasm backend whose memory is freed (once the hooks are installed). */
export function onFreed(listener: (dataId: DataId) => void): void {
  freedListeners.add(listener);
}

/** Computes every pending tensor among a kernel's inputs, but the one it may fold. */
function settleInputs(kernelName: string, inputs: unknown): void {
  if (pending.size === 0 || inputs == null || typeof inputs !== 'object') return;
  const keep = absorbing.get(kernelName);
  for (const [name, value] of Object.entries(inputs as Record<string, unknown>)) {
    if (Array.isArray(value)) {
      for (const t of value) if (t != null) settle((t as TensorInfo).dataId);
    } else if (value != null && typeof value === 'object' && 'dataId' in value) {
      const { dataId } = value as TensorInfo;
      if (name === keep && pending.get(dataId)?.recipe !== undefined) continue;
      settle(dataId);
    }
  }
}

/**
 * Installs, once per engine and per backend, the hooks that compute a pending tensor on first
 * use (lib/patches: PATCHES.engineRunKernel and PATCHES.wasmBackendData). False when they are
 * skipped (a TF.js version they were not checked against): kernels then run at once.
 */
export function hookBackend(backend: BackendWasm): boolean {
  const engine = installPatch(PATCHES.engineRunKernel, tf.engine(), settleInputs);
  const data = installPatch(PATCHES.wasmBackendData, backend, {
    beforeRead: settle,
    afterDispose(dataId, freed) {
      if (!freed) return;
      const entry = pending.get(dataId);
      if (entry !== undefined) {
        pending.delete(dataId);
        entry.release();
        lazyCounts.dropped++;
      }
      for (const listener of freedListeners) listener(dataId);
    },
  });
  if (engine != null && data != null) return true;
  engine?.undo();
  data?.undo();
  return false;
}

/**
 * A float32 tensor of `shape` whose values `compute` writes into its memory when first used.
 * `keep` (tensors compute reads) stay alive until then, or until the tensor is dropped unused.
 * Returns null when the hooks cannot be installed (the caller computes at once).
 */
export function deferOutput(backend: BackendWasm, shape: number[], keep: TensorInfo[], compute: (out: TensorInfo) => void, recipe?: object): TensorInfo | null {
  if (!hookBackend(backend)) return null;
  for (const t of keep) settle(t.dataId);
  const out = backend.makeOutput(shape, 'float32');
  // Kept alive until the output is computed or dropped: the engine may dispose them first.
  for (const t of keep) backend.incRef(t.dataId);
  pending.set(out.dataId, {
    run: () => compute(out),
    release: () => {
      // When the engine disposed an input first, the backend kept it for us and the engine
      // still counts its buffer: freeing it here must also take it off the engine's books.
      for (const t of keep) if (backend.disposeData(t.dataId)) tf.engine().removeDataId(t.dataId, backend);
    },
    recipe,
  });
  lazyCounts.deferred++;
  return out;
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
    if (shape === null) return kernel(args);
    const inputs = Object.values(args.inputs).filter((t): t is TensorInfo => t != null);
    const frozen: KernelArgs = { inputs: { ...args.inputs }, backend, attrs: { ...args.attrs } };
    const out = deferOutput(backend, shape, inputs, (into) => {
      const result = kernel(frozen);
      try {
        (backend.typedArrayFromHeap(into) as Float32Array).set(backend.typedArrayFromHeap(result) as Float32Array);
      } finally {
        backend.disposeData(result.dataId);
      }
    });
    return out ?? kernel(args);
  };
}
