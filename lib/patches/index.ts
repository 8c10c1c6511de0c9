/**
 * Every change tsfreeze makes to a dependency's code or to Node's globals, in one table.
 *
 * TF.js, its wasm and WebGPU backends and Node do not offer hooks for a few things tsfreeze
 * needs (computing a gradient only when it is used, reading a GPU tensor synchronously in Node,
 * starting XNNPACK's threads in Node, freezing BatchNorm statistics). Where the only way is to
 * replace a function or a global, the replacement is an entry here: the package and version
 * range it was checked against, what it changes and why, the module that installs it, and an
 * `apply` that makes the change and returns its undo. `installPatch(PATCHES.x, target, ...)`
 * (lib/patches/patch.ts) checks the installed version first: a version outside `checked`
 * throws, skips the patch with a warning saying what is lost, or warns and installs anyway
 * (`onMismatch`); TSFREEZE_UNCHECKED_PATCHES=1 installs every patch anyway. `activePatches()`
 * lists what is installed now; every handle can be undone.
 *
 * Adding a patch:
 * 1. Add an entry below: `id` 'package:Thing.patched', `package`, `checked` (the range you
 *    tested, e.g. '4.22.x'), `onMismatch`, `scope`, `owner` (your module), `what`, `ifSkipped`,
 *    and `apply(target, ...args)`. Replace properties with `replaceProperty` (it restores the
 *    exact descriptor on undo, and refuses to undo over someone else's later change); keep the
 *    policy (what your wrapper does) in your module and pass it as an argument, so that this
 *    table says only what is replaced and how.
 * 2. Install it from your module with `installPatch(PATCHES.yourEntry, target, ...args)`, and
 *    handle null (skipped) when `onMismatch` is 'skip'.
 * 3. Add a case to test/unit/patches.test.ts (it fails for an entry without one): a target, the
 *    arguments, and the observable state that must come back after undo.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { replaceProperty, type Patch, type Undo } from './patch';

export type { Patch, PatchHandle, PatchScope, MismatchPolicy, ActivePatch, Undo } from './patch';
export { installPatch, withPatch, activePatches, isPatched, installedVersion, versionInRange, replaceProperty, PatchError, UNCHECKED_PATCHES_ENV } from './patch';

type Engine = ReturnType<typeof tf.engine>;
type DataId = tf.TensorInfo['dataId'];
type RunKernel = Engine['runKernel'];
type KernelInputs = Parameters<RunKernel>[1];

/** Hooks of the wasm backend's data functions (lib/backend/wasm/lazy.ts). */
export interface WasmDataHooks {
  /** Before a tensor's memory is read (read, readSync, typedArrayFromHeap). */
  beforeRead(dataId: DataId): void;
  /** After disposeData; freed: whether the memory was released. */
  afterDispose(dataId: DataId, freed: boolean): void;
}

/** A kernel config as tf.registerKernel takes it. */
type KernelConfig = tf.KernelConfig;

/** Kernels registered for one backend: the configs, and whether to replace existing kernels of the same names. */
export interface KernelSet {
  backend: string;
  /** Added only where the backend has no kernel of that name. */
  add: KernelConfig[];
  /** Registered in place of the backend's own (its setupFunc and disposeFunc are kept). */
  replace: KernelConfig[];
  /** Filled by apply: the names actually added and replaced, and the replaced kernels' own configs. */
  added: string[];
  replaced: string[];
  originals: Map<string, KernelConfig>;
}

function undoAll(undos: Undo[]): Undo {
  return () => {
    for (const u of [...undos].reverse()) u();
  };
}

const TFJS = '4.22.x';

/** The table. Keys are how modules refer to an entry; `id` is how people do. */
export const PATCHES = {
  /**
   * Lazy kernels (outputs computed on first use, and conv → BatchNorm → activation fused into one
   * convolution) need to run before any kernel reads their output.
   */
  engineRunKernel: {
    id: '@tensorflow/tfjs-core:Engine.runKernel',
    package: '@tensorflow/tfjs-core', checked: TFJS, onMismatch: 'skip', scope: 'instance', owner: 'lib/backend/wasm/lazy.ts',
    what: 'runs a callback with the kernel name and inputs before every kernel, which computes pending (lazy) inputs first',
    ifSkipped: 'wasm gradient kernels run eagerly and convolutions are not fused with BatchNorm',
    apply(engine: Engine, before: (kernelName: string, inputs: KernelInputs) => void): Undo {
      return replaceProperty(engine, 'runKernel', (original) => function runKernel(this: Engine, kernelName, inputs, attrs) {
        before(kernelName, inputs);
        return original.call(this, kernelName, inputs, attrs);
      } as RunKernel, this.id);
    },
  } satisfies Patch<Engine, [(kernelName: string, inputs: KernelInputs) => void]>,

  /** A pending tensor is computed when read back, and its kept inputs are released when it is disposed unused. */
  wasmBackendData: {
    id: '@tensorflow/tfjs-backend-wasm:BackendWasm.read/readSync/typedArrayFromHeap/disposeData',
    package: '@tensorflow/tfjs-backend-wasm', checked: TFJS, onMismatch: 'skip', scope: 'instance', owner: 'lib/backend/wasm/lazy.ts',
    what: "calls hooks before a tensor of the wasm backend is read (read, readSync, and typedArrayFromHeap, the view of its memory that kernels and the frozen-weight guard use) and after one is disposed",
    ifSkipped: 'wasm gradient kernels run eagerly and convolutions are not fused with BatchNorm',
    apply(backend: BackendWasm, hooks: WasmDataHooks): Undo {
      const undos = [
        replaceProperty(backend, 'readSync', (original) => function readSync(this: BackendWasm, dataId: DataId, start?: number, end?: number) {
          hooks.beforeRead(dataId);
          return original.call(this, dataId, start, end);
        } as BackendWasm['readSync'], this.id),
        replaceProperty(backend, 'read', (original) => function read(this: BackendWasm, dataId: DataId) {
          hooks.beforeRead(dataId);
          return original.call(this, dataId);
        } as BackendWasm['read'], this.id),
        replaceProperty(backend, 'typedArrayFromHeap', (original) => function typedArrayFromHeap(this: BackendWasm, info: tf.TensorInfo) {
          hooks.beforeRead(info.dataId);
          return original.call(this, info);
        } as BackendWasm['typedArrayFromHeap'], this.id),
        replaceProperty(backend, 'disposeData', (original) => function disposeData(this: BackendWasm, dataId: DataId, force?: boolean) {
          const freed = original.call(this, dataId, force);
          hooks.afterDispose(dataId, freed);
          return freed;
        } as BackendWasm['disposeData'], this.id),
      ];
      return undoAll(undos);
    },
  } satisfies Patch<BackendWasm, [WasmDataHooks]>,

  /**
   * tfjs-backend-wasm 4.22's typedArrayFromHeap takes HEAPU8.buffer before it looks the tensor
   * up; when the lookup moves the tensor in from another backend (a model built on cpu, run on
   * wasm) and that grows the heap, the buffer it took is detached: "Cannot perform Construct on a
   * detached ArrayBuffer". The patch looks the tensor up (moves it) first.
   */
  wasmHeapView: {
    id: '@tensorflow/tfjs-backend-wasm:BackendWasm.typedArrayFromHeap (move first)',
    package: '@tensorflow/tfjs-backend-wasm', checked: TFJS, onMismatch: 'warn', scope: 'instance', owner: 'lib/backend/select.ts',
    what: 'moves a tensor in from another backend before typedArrayFromHeap takes the heap buffer, so a move that grows the heap cannot detach the view',
    ifSkipped: 'a tensor made on another backend can fail on wasm with "Cannot perform Construct on a detached ArrayBuffer"',
    apply(backend: BackendWasm): Undo {
      return replaceProperty(backend, 'typedArrayFromHeap', (original) => function typedArrayFromHeap(this: BackendWasm, info: tf.TensorInfo) {
        (this as unknown as { dataIdMap: { get(id: DataId): unknown } }).dataIdMap.get(info.dataId);
        return original.call(this, info);
      } as BackendWasm['typedArrayFromHeap'], this.id);
    },
  } satisfies Patch<BackendWasm, []>,

  /**
   * The kernels tsfreeze adds to the wasm backend (gradients it lacks) and replaces (faster or
   * correct versions), through TF.js's public kernel registry.
   */
  wasmKernels: {
    id: '@tensorflow/tfjs-backend-wasm:kernel registry',
    package: '@tensorflow/tfjs-backend-wasm', checked: TFJS, onMismatch: 'warn', scope: 'process', owner: 'lib/backend/wasm/kernels/index.ts',
    what: "registers tsfreeze's wasm kernels (lib/backend/wasm/kernels/): added where the backend has none, replacing its own otherwise",
    apply(registry: { getKernel: typeof tf.getKernel; registerKernel: typeof tf.registerKernel; unregisterKernel: typeof tf.unregisterKernel }, set: KernelSet): Undo {
      const originals = set.originals;
      for (const config of set.add) {
        if (registry.getKernel(config.kernelName, set.backend) != null) continue;
        registry.registerKernel({ ...config, backendName: set.backend });
        set.added.push(config.kernelName);
      }
      for (const config of set.replace) {
        const original = registry.getKernel(config.kernelName, set.backend);
        if (original == null) continue;
        originals.set(config.kernelName, original);
        registry.unregisterKernel(config.kernelName, set.backend);
        // The original's setupFunc binds its WebAssembly function when the backend initialises,
        // which may happen after this: keep it (and its disposeFunc) on the replacement.
        registry.registerKernel({ ...config, backendName: set.backend, setupFunc: original.setupFunc, disposeFunc: original.disposeFunc });
        set.replaced.push(config.kernelName);
      }
      return () => {
        for (const name of set.added) registry.unregisterKernel(name, set.backend);
        for (const [name, original] of originals) {
          registry.unregisterKernel(name, set.backend);
          registry.registerKernel(original);
        }
      };
    },
  } satisfies Patch<{ getKernel: typeof tf.getKernel; registerKernel: typeof tf.registerKernel; unregisterKernel: typeof tf.unregisterKernel }, [KernelSet]>,

  /** Emscripten's pthread workers start from blob: URLs, which Node's Worker cannot load. */
  workerThreadsWorker: {
    id: 'node:worker_threads.Worker',
    package: '@tensorflow/tfjs-backend-wasm', checked: TFJS, onMismatch: 'skip', scope: 'process', owner: 'lib/backend/wasm/threads.ts',
    what: "replaces worker_threads.Worker by a subclass that starts a blob: URL's script (the threaded wasm build's workers); other workers start unchanged",
    ifSkipped: 'the wasm backend runs on one thread',
    apply(threads: typeof import('worker_threads'), subclass: (base: typeof import('worker_threads').Worker) => typeof import('worker_threads').Worker): Undo {
      return replaceProperty(threads, 'Worker', subclass, this.id);
    },
  } satisfies Patch<typeof import('worker_threads'), [(base: typeof import('worker_threads').Worker) => typeof import('worker_threads').Worker]>,

  /** The wasm backend's C++ caps XNNPACK's threads at half the logical CPUs (1 on a 2-core machine). */
  osCpusDoubled: {
    id: 'node:os.cpus',
    package: '@tensorflow/tfjs-backend-wasm', checked: TFJS, onMismatch: 'skip', scope: 'call', owner: 'lib/backend/wasm/threads.ts',
    what: 'while the threaded wasm backend initialises, os.cpus() lists every CPU twice, so that its cap lets the wanted thread count through',
    ifSkipped: 'the wasm backend runs on one thread',
    apply(osModule: typeof import('os')): Undo {
      return replaceProperty(osModule, 'cpus', (cpus) => () => {
        const list = cpus();
        return [...list, ...list];
      }, this.id);
    },
  } satisfies Patch<typeof import('os'), []>,

  /** The threaded build starts through a factory that falls back to one thread when its workers fail. */
  wasmBackendFactory: {
    id: "@tensorflow/tfjs-core:registry 'wasm' backend factory",
    package: '@tensorflow/tfjs-backend-wasm', checked: TFJS, onMismatch: 'skip', scope: 'process', owner: 'lib/backend/wasm/threads.ts',
    what: "re-registers the 'wasm' backend (same priority) with a factory that starts the threaded build and falls back to one thread; must be installed before the backend initialises",
    ifSkipped: 'the wasm backend runs on one thread',
    apply(registry: { findBackendFactory: typeof tf.findBackendFactory; removeBackend: typeof tf.removeBackend; registerBackend: typeof tf.registerBackend; engine: typeof tf.engine },
      wrap: (factory: () => Promise<tf.KernelBackend>) => () => Promise<tf.KernelBackend>): Undo {
      const entry = registry.engine().registryFactory.wasm;
      if (entry == null) throw new Error("no 'wasm' backend is registered: require '@tensorflow/tfjs-backend-wasm' first");
      const original = entry.factory as () => Promise<tf.KernelBackend>;
      const replacement = wrap(original);
      registry.removeBackend('wasm');
      registry.registerBackend('wasm', replacement, entry.priority);
      return () => {
        if (registry.engine().registryFactory.wasm?.factory !== replacement) {
          throw new Error(`cannot undo ${this.id}: the 'wasm' backend was registered again since`);
        }
        registry.removeBackend('wasm');
        registry.registerBackend('wasm', original, entry.priority);
      };
    },
  } satisfies Patch<{ findBackendFactory: typeof tf.findBackendFactory; removeBackend: typeof tf.removeBackend; registerBackend: typeof tf.registerBackend; engine: typeof tf.engine },
    [(factory: () => Promise<tf.KernelBackend>) => () => Promise<tf.KernelBackend>]>,

  /** dawn.node settles WebGPU promises only in callbacks it hands to setImmediate. */
  setImmediate: {
    id: 'node:globalThis.setImmediate',
    package: 'webgpu', checked: '0.6.x', onMismatch: 'warn', scope: 'process', owner: 'lib/backend/dawn-events.ts',
    what: "wraps the global setImmediate so that Dawn's queued event processing (native callbacks) can be run early, for synchronous reads",
    apply(global: typeof globalThis, make: (real: typeof setImmediate) => typeof setImmediate): Undo {
      return replaceProperty(global, 'setImmediate', make, this.id);
    },
  } satisfies Patch<typeof globalThis, [(real: typeof setImmediate) => typeof setImmediate]>,

  /** tfjs-backend-webgpu checks navigator.gpu in its constructor. */
  navigatorGpu: {
    id: 'node:globalThis.navigator',
    package: '@tensorflow/tfjs-backend-webgpu', checked: TFJS, onMismatch: 'warn', scope: 'call', owner: 'lib/backend/webgpu.ts',
    what: "defines globalThis.navigator with Dawn's gpu (on top of Node's own navigator, if any) while WebGPUBackend is constructed",
    apply(global: typeof globalThis, gpu: unknown): Undo {
      const before = Object.getOwnPropertyDescriptor(global, 'navigator');
      const base: unknown = before && 'value' in before ? before.value : before?.get?.call(global);
      const value = Object.assign(Object.create((base as object | null | undefined) ?? null) as object, { gpu });
      Object.defineProperty(global, 'navigator', { value, configurable: true, writable: true });
      return () => {
        if (before) Object.defineProperty(global, 'navigator', before);
        else delete (global as { navigator?: unknown }).navigator;
      };
    },
  } satisfies Patch<typeof globalThis, [unknown]>,

  /** tfjs-backend-webgpu's kernels name WebGPU's constants as globals. */
  webgpuGlobals: {
    id: 'node:globalThis.GPUBufferUsage/GPUMapMode/GPUTextureUsage/GPUBuffer/GPUTexture',
    package: '@tensorflow/tfjs-backend-webgpu', checked: TFJS, onMismatch: 'warn', scope: 'process', owner: 'lib/backend/webgpu.ts',
    what: "defines the WebGPU globals tfjs-backend-webgpu's kernels use (from the webgpu package's `globals`), only those missing",
    apply(global: typeof globalThis, globals: Record<string, unknown>): Undo {
      const g = global as unknown as Record<string, unknown>;
      const added = Object.keys(globals).filter((name) => g[name] === undefined && globals[name] !== undefined);
      for (const name of added) Object.defineProperty(g, name, { value: globals[name], writable: true, configurable: true, enumerable: false });
      return () => {
        for (const name of added) delete g[name];
      };
    },
  } satisfies Patch<typeof globalThis, [Record<string, unknown>]>,

  /** Node has no OffscreenCanvas, through which the WebGPU backend's readSync copies. */
  webgpuReadSync: {
    id: '@tensorflow/tfjs-backend-webgpu:WebGPUBackend.read/readSync',
    package: '@tensorflow/tfjs-backend-webgpu', checked: TFJS, onMismatch: 'warn', scope: 'instance', owner: 'lib/backend/webgpu-read.ts',
    what: "replaces one WebGPU backend's readSync by a staging-buffer copy finished synchronously, and makes read/readSync raise WebGPU's error events",
    apply(backend: tf.KernelBackend, replacements: { readSync: tf.KernelBackend['readSync']; read: (original: tf.KernelBackend['read']) => tf.KernelBackend['read'] }): Undo {
      return undoAll([
        replaceProperty(backend, 'readSync', () => replacements.readSync, this.id),
        replaceProperty(backend, 'read', (original) => replacements.read(original.bind(backend)), this.id),
      ]);
    },
  } satisfies Patch<tf.KernelBackend, [{ readSync: tf.KernelBackend['readSync']; read: (original: tf.KernelBackend['read']) => tf.KernelBackend['read'] }]>,

  /**
   * tf.Sequential.build (run by compile(), and by the first predict or fit) sets every weight of
   * its layers back to trainable, which would let model.fit train a frozen weight of a partly
   * frozen layer.
   */
  sequentialBuild: {
    id: '@tensorflow/tfjs-layers:Sequential.build',
    package: '@tensorflow/tfjs-layers', checked: TFJS, onMismatch: 'warn', scope: 'instance', owner: 'lib/freeze/freeze.ts',
    what: "makes one Sequential call a callback after build (freeze re-applies its per-weight flags)",
    apply(model: tf.Sequential, after: () => void): Undo {
      const seq = model as unknown as { build(...args: unknown[]): void };
      return replaceProperty(seq, 'build', (build) => function build2(this: unknown, ...args: unknown[]) {
        build.apply(this, args);
        after();
      }, this.id);
    },
  } satisfies Patch<tf.Sequential, [() => void]>,

  /**
   * TF.js's BatchNormalization (like PyTorch's BatchNorm in train mode) normalises with batch
   * statistics and updates its moving ones whenever it is called with training: true, whatever
   * its trainable flag says.
   */
  batchNormCall: {
    id: '@tensorflow/tfjs-layers:BatchNormalization.call',
    package: '@tensorflow/tfjs-layers', checked: TFJS, onMismatch: 'warn', scope: 'instance', owner: 'lib/freeze/batchnorm.ts',
    what: 'makes one BatchNormalization layer always run in inference mode (frozen statistics)',
    apply(layer: tf.layers.Layer): Undo {
      type Call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];
      const target = layer as unknown as { call: Call };
      return replaceProperty(target, 'call', (original) => function frozenBatchNormCall(this: unknown, inputs, kwargs) {
        return original.call(this, inputs, { ...kwargs, training: false });
      } as Call, this.id);
    },
  } satisfies Patch<tf.layers.Layer, []>,

  /** A cell's process.exit() would end the kernel and every variable in it (IPython turns sys.exit into an error too). */
  processExit: {
    id: 'node:process.exit',
    package: 'node', checked: '>=20.19 <25', onMismatch: 'warn', scope: 'process', owner: 'kernel/server/process-guard.ts',
    what: "in the Jupyter kernel, process.exit(code) calls the kernel's replacement (it throws ProcessExit, which the cell reports) instead of ending the process; the kernel exits through the original",
    apply(proc: NodeJS.Process, make: (real: NodeJS.Process['exit']) => NodeJS.Process['exit']): Undo {
      return replaceProperty(proc, 'exit', make, this.id);
    },
  } satisfies Patch<NodeJS.Process, [(real: NodeJS.Process['exit']) => NodeJS.Process['exit']]>,
};

/** The names of the entries. */
export type PatchName = keyof typeof PATCHES;
