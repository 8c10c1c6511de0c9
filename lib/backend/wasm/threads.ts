/**
 * Multithreaded XNNPACK for TF.js's WebAssembly backend in Node.
 *
 * `@tensorflow/tfjs-backend-wasm` ships a threaded SIMD build but never uses it in Node
 * (tensorflow/tfjs#3830): its thread flag is hard-wired to false there, its pthread workers are
 * started from `blob:` URLs, which Node's `Worker` cannot load, and the C++ side caps the thread
 * count at half the logical cores (one core per two hyper-threads), which is 1 on a 2-core machine.
 * Convolutions and matrix products then run on one core. With TSFREEZE_WASM_THREADS=N (or
 * 'auto'), this module removes the three obstacles, through patches listed in lib/patches (each
 * checked against the package version, and skipped, leaving one thread, for another):
 *
 * - `worker_threads.Worker` is wrapped so that a `blob:` URL starts a worker from the Blob's
 *   text (a small boot script evaluates it and serves the Blob it is later sent as the main
 *   script through `importScripts`); every other worker starts unchanged;
 * - the thread flag is set and the thread count given to the package;
 * - while the backend initialises, `os.cpus()` lists each CPU twice, so that the C++ cap lets
 *   the wanted count through;
 * - the workers never keep the process alive (XNNPACK's pool threads wait for work until exit).
 *
 * If the threaded build fails to start (an error in a worker, or no start within a minute), the
 * backend is initialised again single-threaded, as the package would have done.
 */
import * as os from 'os';
import * as tf from '@tensorflow/tfjs';
import { installPatch, PATCHES, withPatch } from '../../patches';

/** The threaded build pre-starts 8 workers; its thread pool cannot use more. */
const MAX_THREADS = 8;

/** How long the threaded build may take to start before the single-threaded one is used. */
const START_TIMEOUT_MS = 60_000;

/** Environment variable: how many threads XNNPACK may use (unset or 1 = the single-threaded build). */
export const WASM_THREADS_ENV = 'TSFREEZE_WASM_THREADS';

const FAILED = 'tsfreezeWorkerFailed';

/**
 * Runs in each pthread worker (Node `eval` worker). workerData is the Blob of Emscripten's worker
 * script. Messages are queued until that script has run, and a Blob sent as the main script in
 * the 'load' message is read (asynchronously) and handed to importScripts by name.
 */
const BOOT = `
'use strict';
const { parentPort, workerData } = require('worker_threads');
// Emscripten's scripts run in the global scope and reach Node through require (and the bundle's
// names for the modules it required).
Object.assign(globalThis, {
  require, commonjsGlobal: globalThis,
  require$$0: require('fs'), require$$1: require('path'), require$$3: require('perf_hooks'), require$$4: require('os'),
});
const inline = new Map();
const pending = [];
let deliver = null;
let draining = false;
const fail = (e) => parentPort.postMessage({ ${FAILED}: String((e && e.stack) || e) });
async function drain() {
  if (draining || deliver === null) return;
  draining = true;
  try {
    while (pending.length > 0) {
      const data = pending.shift();
      if (data && data.cmd === 'load' && data.urlOrBlob != null && typeof data.urlOrBlob !== 'string') {
        const name = 'tsfreeze-inline:' + inline.size;
        inline.set(name, await data.urlOrBlob.text());
        data.urlOrBlob = name;
      }
      deliver(data);
    }
  } catch (e) {
    fail(e);
  } finally {
    draining = false;
  }
}
const queue = (data) => { pending.push(data); drain(); };
parentPort.on('message', queue);
workerData.text().then((source) => {
  (0, eval)(source);
  // The script subscribed to parentPort itself; its messages keep going through the queue.
  parentPort.removeAllListeners('message');
  parentPort.on('message', queue);
  const importScripts = globalThis.importScripts;
  globalThis.importScripts = (f) => (inline.has(f) ? (0, eval)(inline.get(f)) : importScripts(f));
  deliver = (data) => globalThis.onmessage({ data });
  drain();
}).catch(fail);
`;

/**
 * Threads wanted: TSFREEZE_WASM_THREADS (at most 8, 'auto' = the machine's logical CPUs), else 1.
 *
 * One by default: on a 2-core machine a LeNet5 or conv+BatchNorm training step was no faster with
 * two threads (convolutions twice as fast, small ops slower, 75 MB more memory for the build's 8
 * pre-started workers); a frozen backbone's forward convolutions gain the most.
 */
export function wasmThreadsWanted(): number {
  const raw = (process.env[WASM_THREADS_ENV] ?? '').trim();
  if (raw === '') return 1;
  if (raw === 'auto') {
    const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    return Math.max(1, Math.min(cores, MAX_THREADS));
  }
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${WASM_THREADS_ENV} must be a positive integer or 'auto' (1 = single-threaded), got '${raw}'`);
  }
  return Math.min(n, MAX_THREADS);
}

type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');

let failure: ((reason: string) => void) | null = null;

/**
 * The subclass of worker_threads.Worker that can start a worker from a blob: URL (installed by
 * PATCHES.workerThreadsWorker); every other worker starts as with `Base`.
 */
function blobURLWorker(Base: typeof import('worker_threads').Worker): typeof import('worker_threads').Worker {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { resolveObjectURL } = require('buffer') as typeof import('buffer');
  return class BlobURLWorker extends Base {
    constructor(filename: string | URL, options?: import('worker_threads').WorkerOptions) {
      const url = String(filename);
      const blob = url.startsWith('blob:') ? resolveObjectURL(url) : undefined;
      if (blob === undefined) {
        super(filename, options);
        return;
      }
      super(BOOT, { ...options, eval: true, workerData: blob });
      this.on('message', (data: unknown) => {
        const reason = (data as Record<string, unknown> | null)?.[FAILED];
        if (typeof reason === 'string') failure?.(reason);
      });
    }

    // Emscripten refs a worker while it runs a pthread; XNNPACK's pool threads run (and wait
    // for work) until the process ends, which they must not delay.
    override ref(): void {}

    // Emscripten rethrows a worker's error on the main thread, which would end the process;
    // while the backend starts, an error means "use one thread" instead.
    override emit(event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'error' && failure !== null) {
        failure(args[0] instanceof Error ? args[0].message : String(args[0]));
        return true;
      }
      return super.emit(event, ...args);
    }
  };
}

/**
 * Makes the 'wasm' backend start XNNPACK with `threads` threads: must run after the package was
 * required and before the backend is first initialised. Returns false (and changes nothing) for
 * threads < 2, or when a patch it needs is skipped for a package version it was not checked with.
 */
export function enableWasmThreads(mod: WasmModule, threads: number): boolean {
  if (threads < 2 || tf.engine().registryFactory.wasm == null) return false;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const workers = installPatch(PATCHES.workerThreadsWorker, require('worker_threads') as typeof import('worker_threads'), blobURLWorker);
  if (workers == null) return false;
  const factory = installPatch(PATCHES.wasmBackendFactory, tf, (original) => threadedFactory(original));
  if (factory == null) {
    workers.undo();
    return false;
  }
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  mod.setThreadsCount(threads);
  return true;
}

/** A factory that starts the threaded build, and the single-threaded one when that fails. */
function threadedFactory(factory: () => Promise<tf.KernelBackend>): () => Promise<tf.KernelBackend> {
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    const stopped = new Promise<string>((resolve) => {
      failure = resolve;
      timer = setTimeout(() => resolve(`no start within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
      timer.unref();
    });
    try {
      // The C++ side halves os.cpus().length: listing each CPU twice lets the wanted count through.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const started = withPatch(PATCHES.osCpusDoubled, require('os') as typeof os, [], factory);
      // When the fallback below is taken, whatever the threaded start does later is of no use.
      started.catch(() => undefined);
      const first = await Promise.race([started, stopped]);
      if (typeof first !== 'string') return first;
      process.emitWarning(`tsfreeze: the threaded WebAssembly build did not start (${first}); using one thread`);
    } catch (err) {
      process.emitWarning(`tsfreeze: the threaded WebAssembly build did not start (${err instanceof Error ? err.message : String(err)}); using one thread`);
    } finally {
      failure = null;
      clearTimeout(timer);
    }
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    return factory();
  };
}
