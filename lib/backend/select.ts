/**
 * Choosing the TF.js backend: setBackend('auto' | name) and backendInfo().
 *
 * 'auto' tries, in order: @tensorflow/tfjs-node-gpu (CUDA), @tensorflow/tfjs-node (native
 * TensorFlow), WebGPU, WebAssembly, plain JS. The native packages are optional: they are required
 * lazily, only when installed, and their absence is a recorded reason, never an error. WebGPU
 * goes through a provider (registerWebGPUProvider); tsfreeze's own (webgpu.ts: Dawn and
 * tfjs-backend-webgpu) is registered when both optional packages are installed, and loads them
 * only when WebGPU is tried. 'auto' takes hardware adapters only; 'webgpu' by name also takes a
 * software one.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { installPatch, isPatched, PATCHES } from '../patches';
import { loadWasmBackend, wasmFeatures, WASM_PACKAGE } from './wasm/load';
import { createDawnWebGPUProvider, DAWN_PACKAGE, WEBGPU_BACKEND_PACKAGE } from './webgpu';

export type BackendName = 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';

/** One backend that setBackend considered. */
export interface BackendCandidate {
  /** TF.js backend name. */
  name: 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
  /** The npm package that provides it, when there is one. */
  package?: string;
  /** Whether it became the backend. */
  chosen: boolean;
  /** Why it was chosen, or why it was skipped. */
  reason: string;
}

export interface BackendInfo {
  /** The TF.js backend in use ('tensorflow', 'webgpu', 'wasm', 'cpu', or another set outside tsfreeze). */
  name: string;
  /** What setBackend was asked for. */
  requested: BackendName | null;
  /** Why this backend is the one in use. */
  reason: string;
  /** The package behind it, when there is one. */
  package?: string;
  /** WebGPU: the adapter it runs on. */
  adapter?: string;
  /** WebGPU: whether that adapter is a software renderer (the CPU), chosen only by name. */
  software?: boolean;
  /** Threads its kernels run on, when known (wasm: 1 unless its threaded build loaded; cpu: 1). */
  threads?: number;
  /** Whether its kernels use SIMD, when known. */
  simd?: boolean;
  /** wasm: the kernels tsfreeze added to the backend (training) and replaced (speed). */
  kernels?: { added: string[]; replaced: string[] };
  /** Every backend considered, in order, with why it was skipped or chosen. */
  candidates: BackendCandidate[];
}

/** What a WebGPU provider switched TF.js to. */
export interface WebGPUActivation {
  /** The adapter, for people. */
  adapter: string;
  /** Whether it is a software renderer. */
  software?: boolean;
}

/**
 * A way to run TF.js on WebGPU (tsfreeze's: the `webgpu` package's Dawn bindings and
 * @tensorflow/tfjs-backend-webgpu). activate() registers and switches to a TF.js backend named
 * 'webgpu' and resolves to a description of the adapter, or throws an Error saying why it
 * cannot (no adapter, only a software adapter, package missing...). With allowSoftware false
 * ('auto') it must not take a software adapter.
 */
export interface WebGPUProvider {
  /** Package(s) it needs, for messages. */
  package: string;
  activate(options: { allowSoftware: boolean }): Promise<WebGPUActivation>;
}

const NODE_GPU = '@tensorflow/tfjs-node-gpu';
const NODE_CPU = '@tensorflow/tfjs-node';
const WEBGPU_HINT = `install the optional packages '${DAWN_PACKAGE}' (Dawn for Node) and ${WEBGPU_BACKEND_PACKAGE}`;

/** A provider registered by registerWebGPUProvider (null: none); undefined: tsfreeze's default. */
let webgpuProvider: WebGPUProvider | null | undefined;
let dawnProvider: WebGPUProvider | undefined;
let current: BackendInfo | null = null;

/** Installs the WebGPU provider that 'auto' and 'webgpu' use; null removes it, 'default' puts tsfreeze's back. */
export function registerWebGPUProvider(provider: WebGPUProvider | null | 'default'): void {
  webgpuProvider = provider === 'default' ? undefined : provider;
}

/** tsfreeze's WebGPU provider (Dawn + tfjs-backend-webgpu), one per process; null when either package is missing. */
export function defaultWebGPUProvider(): WebGPUProvider | null {
  if (!(loader.installed(DAWN_PACKAGE) && loader.installed(WEBGPU_BACKEND_PACKAGE))) return null;
  dawnProvider ??= createDawnWebGPUProvider();
  return dawnProvider;
}

function currentWebGPUProvider(): WebGPUProvider | null {
  return webgpuProvider === undefined ? defaultWebGPUProvider() : webgpuProvider;
}

/** How optional packages are found and loaded; replaceable in tests. */
export interface PackageLoader {
  /** Whether the package is installed (resolvable); never loads it. */
  installed(pkg: string): boolean;
  /** Loads the package (registering its TF.js backend). */
  load(pkg: string): void;
}

const nodeLoader: PackageLoader = {
  installed(pkg) {
    try {
      require.resolve(pkg);
      return true;
    } catch {
      return false;
    }
  },
  load(pkg) {
    // A variable, so that no bundler or type checker goes looking for optional packages.
    const id: string = pkg;
    require(id);
  },
};

let loader: PackageLoader = nodeLoader;

/** For tests: replaces how optional packages are found and loaded (null restores Node's). */
export function setPackageLoaderForTests(custom: PackageLoader | null): void {
  loader = custom ?? nodeLoader;
}

function message(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].trim();
}

type Attempt = { ok: true; info: Omit<BackendInfo, 'requested' | 'candidates'> } | { ok: false; reason: string; package?: string };

async function switchTo(name: string): Promise<string | null> {
  try {
    const ok = await tf.setBackend(name);
    return ok ? null : `TF.js could not initialise the '${name}' backend`;
  } catch (err) {
    return `TF.js could not initialise the '${name}' backend: ${message(err)}`;
  }
}

async function tryNative(pkg: string): Promise<Attempt> {
  if (!loader.installed(pkg)) return { ok: false, reason: `not installed (npm install ${pkg})` };
  try {
    loader.load(pkg);
  } catch (err) {
    return { ok: false, reason: `installed but failed to load: ${message(err)}` };
  }
  if (tf.findBackendFactory('tensorflow') == null) {
    return { ok: false, reason: "loaded but registered no 'tensorflow' backend (built for another @tensorflow/tfjs-core?)" };
  }
  const failed = await switchTo('tensorflow');
  if (failed) return { ok: false, reason: failed };
  const what = pkg === NODE_GPU ? 'native TensorFlow with CUDA' : 'native TensorFlow (CPU, multithreaded)';
  return { ok: true, info: { name: 'tensorflow', package: pkg, reason: `${pkg} is installed: ${what}` } };
}

async function tryWebGPU(requested: BackendName): Promise<Attempt> {
  const provider = currentWebGPUProvider();
  if (provider == null) return { ok: false, reason: `not available: ${WEBGPU_HINT}` };
  let activation: WebGPUActivation;
  try {
    activation = await provider.activate({ allowSoftware: requested === 'webgpu' });
  } catch (err) {
    return { ok: false, package: provider.package, reason: `not available: ${message(err)}` };
  }
  if (tf.getBackend() !== 'webgpu') {
    return { ok: false, package: provider.package, reason: "the WebGPU provider did not switch TF.js to a 'webgpu' backend" };
  }
  const info: Attempt & { ok: true } = { ok: true, info: { name: 'webgpu', package: provider.package, adapter: activation.adapter, reason: `WebGPU adapter: ${activation.adapter}` } };
  if (activation.software !== undefined) info.info.software = activation.software;
  return info;
}

async function tryWasm(): Promise<Attempt> {
  if (typeof (globalThis as { WebAssembly?: unknown }).WebAssembly !== 'object') return { ok: false, reason: 'this runtime has no WebAssembly' };
  let kernels: { added: string[]; replaced: string[] };
  try {
    kernels = loadWasmBackend().kernels;
  } catch (err) {
    return { ok: false, reason: `could not load ${WASM_PACKAGE}: ${message(err)}` };
  }
  const failed = await switchTo('wasm');
  if (failed) return { ok: false, reason: failed };
  const backend = tf.findBackend('wasm') as BackendWasm;
  if (!isPatched(PATCHES.wasmHeapView, backend)) installPatch(PATCHES.wasmHeapView, backend);
  const { threads, simd } = await wasmFeatures();
  return {
    ok: true,
    info: {
      name: 'wasm', package: WASM_PACKAGE, threads, simd, kernels,
      reason: `WebAssembly (XNNPACK, ${simd ? 'SIMD' : 'no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'})`,
    },
  };
}

async function tryCpu(): Promise<Attempt> {
  const failed = await switchTo('cpu');
  if (failed) return { ok: false, reason: failed };
  quietCpuBanner();
  return { ok: true, info: { name: 'cpu', threads: 1, simd: false, reason: 'plain JavaScript (slowest; always available)' } };
}

/**
 * TF.js's cpu backend prints a banner ("Hi, looks like you are running TensorFlow.js in
 * Node.js...") through tfjs-core's warn() on its first tensor. tsfreeze records why it chose cpu
 * (backendInfo().reason), so that first write happens here, with TF.js's own PROD flag (which
 * is what mutes warn()) set only for that one write and then put back as it was.
 */
function quietCpuBanner(): void {
  const env = tf.env();
  const prod = env.getBool('PROD');
  env.set('PROD', true);
  try {
    tf.zeros([1]).dispose();
  } finally {
    env.set('PROD', prod);
  }
}

interface Step {
  name: BackendCandidate['name'];
  package?: string;
  attempt: (requested: BackendName) => Promise<Attempt>;
}

const STEPS: Record<Exclude<BackendName, 'auto'>, Step[]> = {
  tensorflow: [
    { name: 'tensorflow', package: NODE_GPU, attempt: () => tryNative(NODE_GPU) },
    { name: 'tensorflow', package: NODE_CPU, attempt: () => tryNative(NODE_CPU) },
  ],
  webgpu: [{ name: 'webgpu', attempt: tryWebGPU }],
  wasm: [{ name: 'wasm', package: WASM_PACKAGE, attempt: tryWasm }],
  cpu: [{ name: 'cpu', attempt: tryCpu }],
};

const AUTO_ORDER: Exclude<BackendName, 'auto'>[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

/**
 * Makes a TF.js backend current and records why. 'auto' takes the first that works of
 * tfjs-node-gpu, tfjs-node, WebGPU, wasm and cpu; a name takes that backend or throws an Error
 * that says what is missing ("... not available: install ..."). Resolves to backendInfo().
 */
export async function setBackend(name: BackendName = 'auto'): Promise<BackendInfo> {
  if (!(name === 'auto' || name in STEPS)) {
    throw new Error(`unknown backend '${String(name)}': use 'auto', 'tensorflow', 'webgpu', 'wasm' or 'cpu'`);
  }
  const steps = name === 'auto' ? AUTO_ORDER.flatMap((n) => STEPS[n]) : STEPS[name];
  const candidates: BackendCandidate[] = [];
  for (const step of steps) {
    const result = await step.attempt(name);
    const candidate: BackendCandidate = { name: step.name, chosen: result.ok, reason: result.ok ? result.info.reason : result.reason };
    const pkg = step.package ?? (result.ok ? result.info.package : result.package);
    if (pkg) candidate.package = pkg;
    candidates.push(candidate);
    if (result.ok) {
      const skipped = candidates.filter((c) => !c.chosen);
      const reason = name === 'auto' && skipped.length > 0
        ? `${result.info.reason} (auto: ${skipped.map((c) => `${c.package ?? c.name} skipped`).join(', ')})`
        : result.info.reason;
      current = { ...result.info, reason, requested: name, candidates };
      return backendInfo();
    }
  }
  const why = candidates.map((c) => `${c.package ?? c.name}: ${c.reason}`).join('; ');
  if (name === 'tensorflow') {
    throw new Error(`backend 'tensorflow' not available: install ${NODE_CPU} (or ${NODE_GPU} for CUDA) (${why})`);
  }
  if (name === 'webgpu') {
    throw new Error(`backend 'webgpu' ${candidates[0]?.reason ?? `not available: ${WEBGPU_HINT}`}`);
  }
  throw new Error(`backend '${name}' not available (${why})`);
}

/** The backend in use and why; notices a tf.setBackend() made outside tsfreeze. */
export function backendInfo(): BackendInfo {
  const active: string | undefined | null = tf.getBackend();
  if (current != null && active === current.name) {
    const copy: BackendInfo = { ...current, candidates: current.candidates.map((c) => ({ ...c })) };
    if (current.kernels) copy.kernels = { added: [...current.kernels.added], replaced: [...current.kernels.replaced] };
    return copy;
  }
  if (active == null) {
    return { name: 'none', requested: null, reason: 'no TF.js backend initialised yet; call setBackend()', candidates: [] };
  }
  const info: BackendInfo = {
    name: active,
    requested: null,
    reason: current == null
      ? `chosen by TF.js (tsfreeze's setBackend was not called)`
      : `set outside tsfreeze (tsfreeze had chosen '${current.name}')`,
    candidates: [],
  };
  if (active === 'cpu') {
    info.threads = 1;
    info.simd = false;
  }
  return info;
}
