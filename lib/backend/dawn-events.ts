/**
 * Letting Dawn make progress without returning to the event loop.
 *
 * dawn.node (the `webgpu` package) settles every asynchronous WebGPU call (a buffer mapping
 * included) only inside wgpuInstanceProcessEvents, and it schedules that call by handing a
 * native function to the global setImmediate (AsyncRunner in Dawn's node binding). TF.js's
 * dataSync() must read a GPU buffer synchronously, which in a browser goes through a canvas and
 * in Node has no way at all. So, while the WebGPU backend is in use, tsfreeze wraps
 * setImmediate (PATCHES.setImmediate, lib/patches): native callbacks (Dawn's) are remembered,
 * and waitForDawn() runs them early.
 * Each still runs exactly once: run early, its Immediate is cleared; else Node runs it as usual.
 * JavaScript callbacks go straight to Node's setImmediate.
 */

import { installPatch, PATCHES, type PatchHandle } from '../patches';

interface PendingNative {
  run: () => void;
  handle: NodeJS.Immediate;
}

let pending: Set<PendingNative> | null = null;
let hook: PatchHandle | null = null;

/** A native function's source is `function name() { [native code] }`: short, so longer sources are not scanned. */
function isNative(fn: unknown): boolean {
  if (typeof fn !== 'function') return false;
  const source = Function.prototype.toString.call(fn);
  return source.length <= 256 && /\{\s*\[native code\]\s*\}$/.test(source);
}

/**
 * Wraps the global setImmediate (once per process; PATCHES.setImmediate in lib/patches) so that
 * Dawn's queued event processing can be run early. Returns the patch's handle.
 */
export function installDawnEventHook(): PatchHandle | null {
  if (hook != null) return hook;
  const queued = new Set<PendingNative>();
  const handle = installPatch(PATCHES.setImmediate, globalThis, (real) => {
    const wrapped = function setImmediate(callback: (...args: unknown[]) => void, ...args: unknown[]): NodeJS.Immediate {
      if (!isNative(callback)) return real(callback, ...args);
      const entry: PendingNative = { run: () => callback(...args), handle: undefined as unknown as NodeJS.Immediate };
      entry.handle = real(() => {
        queued.delete(entry);
        entry.run();
      });
      queued.add(entry);
      return entry.handle;
    };
    // Keeps what Node hangs on setImmediate (util.promisify.custom), name and length.
    Object.defineProperties(wrapped, Object.getOwnPropertyDescriptors(real));
    return wrapped as typeof setImmediate;
  });
  if (handle == null) return null;
  pending = queued;
  hook = {
    id: handle.id,
    undo() {
      handle.undo();
      pending = null;
      hook = null;
    },
  };
  return hook;
}

/** Runs now the native callbacks queued through setImmediate (Dawn's event processing); returns how many ran. */
export function runDawnEvents(): number {
  if (pending == null) return 0;
  const now = [...pending];
  for (const entry of now) {
    pending.delete(entry);
    clearImmediate(entry.handle);
    entry.run();
  }
  return now.length;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Runs Dawn's events until `done()` holds. Throws when Dawn has nothing queued that could get
 * it there, or after `timeoutMs`. Between polls it sleeps 50 µs, leaving the CPU to a software
 * GPU's threads.
 */
export function waitForDawn(done: () => boolean, what: string, timeoutMs = 600_000): void {
  if (pending == null) throw new Error(`WebGPU: cannot wait for ${what}: the Dawn event hook is not installed`);
  const start = performance.now();
  for (let polls = 0; !done(); polls++) {
    const ran = runDawnEvents();
    if (done()) return;
    if (ran === 0) {
      throw new Error(`WebGPU: ${what} cannot finish synchronously: Dawn has no event processing queued (was the 'webgpu' package loaded before tsfreeze's hook?); use the asynchronous read (await tensor.data())`);
    }
    if (performance.now() - start > timeoutMs) throw new Error(`WebGPU: ${what} did not finish within ${Math.round(timeoutMs / 1000)} s`);
    if (polls > 20) Atomics.wait(sleeper, 0, 0, 0.05);
  }
}
