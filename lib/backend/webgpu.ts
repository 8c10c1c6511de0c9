/**
 * TF.js on WebGPU in Node: Dawn through the `webgpu` package, kernels from
 * @tensorflow/tfjs-backend-webgpu. Both are optional dependencies, loaded on first use only.
 *
 * Adapters are looked for with Dawn "probes": its default backend (Vulkan on Linux, Metal,
 * D3D12), then, when WebGPU is asked for by name, OpenGL ES through Mesa's EGL without a
 * display. 'auto' never takes a software adapter (llvmpipe, lavapipe, SwiftShader: see
 * isSoftwareAdapter); setBackend('webgpu') takes one when nothing better exists, which is how
 * the tests run this path on a machine without a GPU.
 *
 * What tfjs-backend-webgpu expects of a browser, and what tsfreeze sets up for it:
 * - `navigator.gpu`: checked by its module when loaded (it then registers its own 'webgpu'
 *   factory, which would ask for an adapter tsfreeze did not choose) and by WebGPUBackend's
 *   constructor. tsfreeze never leaves one behind: it defines `globalThis.navigator` only for
 *   the constructor call, then puts back what was there (Node 21+ has a navigator without gpu)
 *   (PATCHES.navigatorGpu in lib/patches).
 * - GPUBufferUsage, GPUMapMode, GPUTextureUsage, GPUBuffer, GPUTexture: its kernels name these
 *   as globals whenever they run, so they are defined on globalThis from Dawn's `globals` (only
 *   those missing) and stay while the process lives (PATCHES.webgpuGlobals).
 * - Synchronous reads (dataSync) go through a canvas in a browser; see webgpu-read.ts.
 * - Dawn settles promises from setImmediate callbacks; see dawn-events.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { installPatch, PATCHES } from '../patches';
import { installDawnEventHook } from './dawn-events';
import { importESM } from './esm-import';
import { describeAdapter, isSoftwareAdapter, type AdapterInfoLike } from './webgpu-adapter';
import { probeAdapter } from './webgpu-probe';
import { enableSyncRead, type GPUErrorLog } from './webgpu-read';
import type { WebGPUProvider, WebGPUActivation } from './select';

export const DAWN_PACKAGE = 'webgpu';
export const WEBGPU_BACKEND_PACKAGE = '@tensorflow/tfjs-backend-webgpu';

/** One way of asking Dawn for an adapter. */
export interface DawnProbe {
  /** For messages: which Dawn backend this is. */
  label: string;
  /** Options for the `webgpu` package's create() (e.g. 'backend=opengles', 'adapter=NAME'). */
  flags: string[];
  /** Environment variables set (when unset) while Dawn looks for the adapter and makes the device. */
  env?: Record<string, string>;
  /** WebGPU feature levels to ask for, in order ('compatibility' is what OpenGL ES offers). */
  featureLevels: ('core' | 'compatibility')[];
}

/** Dawn's default backend for the platform: Vulkan on Linux (NVIDIA, AMD, Intel drivers), Metal, D3D12. */
export const DEFAULT_PROBE: DawnProbe = { label: "Dawn's default backend (Vulkan/Metal/D3D12)", flags: [], featureLevels: ['core', 'compatibility'] };

/** OpenGL ES through EGL without a display (Mesa's surfaceless platform): llvmpipe on a machine without a GPU. */
export const OPENGLES_PROBE: DawnProbe = {
  label: 'OpenGL ES through EGL (surfaceless)',
  flags: ['backend=opengles'],
  env: { EGL_PLATFORM: 'surfaceless' },
  featureLevels: ['compatibility'],
};

export interface DawnProviderOptions {
  /** Probes 'auto' uses; hardware adapters only are taken. Default: [DEFAULT_PROBE]. */
  autoProbes?: DawnProbe[];
  /** Probes tried after them when WebGPU is asked for by name; software adapters are taken. Default: [OPENGLES_PROBE]. */
  namedProbes?: DawnProbe[];
}

interface Adapter {
  info: AdapterInfoLike;
  features: { has(name: string): boolean };
  limits: Record<string, number>;
  requestDevice(descriptor: object): Promise<Device>;
}

interface Device {
  addEventListener(type: 'uncapturederror', listener: (event: { error?: { message?: string } }) => void): void;
  lost: Promise<{ reason?: string; message?: string }>;
}

interface GPU {
  requestAdapter(options: object): Promise<Adapter | null>;
}

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

type BackendModule = { WebGPUBackend: new (device: Device, info: AdapterInfoLike) => tf.KernelBackend };

interface Packages {
  dawn: DawnModule;
  backendModule: BackendModule;
}

let packages: Promise<Packages> | undefined;

/** Loads Dawn and tfjs-backend-webgpu into this process (once). */
function loadPackages(): Promise<Packages> {
  packages ??= (async () => {
    let dawn: DawnModule;
    try {
      // Before Dawn exists, so that every event processing it schedules goes through the hook.
      installDawnEventHook();
      dawn = await importESM<DawnModule>(DAWN_PACKAGE);
    } catch (err) {
      throw new Error(`the '${DAWN_PACKAGE}' package failed to load: ${message(err)}`);
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return { dawn, backendModule: require(WEBGPU_BACKEND_PACKAGE) as BackendModule };
    } catch (err) {
      throw new Error(`${WEBGPU_BACKEND_PACKAGE} failed to load: ${message(err)}`);
    }
  })();
  return packages;
}

/** The adapter tsfreeze runs TF.js on, once found. */
interface Active {
  adapter: string;
  software: boolean;
  /** Kept referenced: Dawn's instance lives as long as the object create() returned. */
  gpu: GPU;
  device: Device;
}

/** The globals tfjs-backend-webgpu's kernels use by name. */
const GPU_GLOBALS = ['GPUBufferUsage', 'GPUMapMode', 'GPUTextureUsage', 'GPUBuffer', 'GPUTexture'];

/** The line of a probe's stderr worth showing: Dawn's or a driver's last warning or error, without stack lines or Mesa's XDG_RUNTIME_DIR notice. */
function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !/^(-|at )/.test(l) && !l.includes('XDG_RUNTIME_DIR'));
  return lines.pop() ?? '';
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0].trim();
}

/** Sets `vars` that are unset, runs `fn`, then unsets them again. */
async function withEnv<T>(vars: Record<string, string> | undefined, fn: () => Promise<T>): Promise<T> {
  const added = Object.entries(vars ?? {}).filter(([k]) => process.env[k] === undefined);
  for (const [k, v] of added) process.env[k] = v;
  try {
    return await fn();
  } finally {
    for (const [k] of added) delete process.env[k];
  }
}

/** Calls `fn` with `globalThis.navigator.gpu` defined (PATCHES.navigatorGpu), then restores globalThis.navigator exactly. */
function withNavigatorGpu<T>(gpu: GPU, fn: () => T): T {
  const handle = installPatch(PATCHES.navigatorGpu, globalThis, gpu);
  try {
    return fn();
  } finally {
    handle?.undo();
  }
}

/** The device limits tfjs-backend-webgpu asks for (the adapter's best), plus storage buffers per stage for kernels with many inputs. */
function deviceDescriptor(adapter: Adapter): object {
  const names = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize',
    'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage'];
  const requiredLimits: Record<string, number> = {};
  for (const n of names) if (typeof adapter.limits[n] === 'number') requiredLimits[n] = adapter.limits[n];
  const requiredFeatures = ['timestamp-query'].filter((f) => adapter.features.has(f));
  return { requiredLimits, requiredFeatures };
}

/**
 * A WebGPUProvider on Dawn (the `webgpu` package) and @tensorflow/tfjs-backend-webgpu. The first
 * adapter found is kept for the life of the process (TF.js keeps one backend per name).
 */
export function createDawnWebGPUProvider(options: DawnProviderOptions = {}): WebGPUProvider {
  const autoProbes = options.autoProbes ?? [DEFAULT_PROBE];
  const namedProbes = options.namedProbes ?? [OPENGLES_PROBE];
  let active: Active | null = null;
  // One child process per probe for the life of the provider: what a machine's adapters are does not change.
  const probed = new Map<DawnProbe, ReturnType<typeof probeAdapter>>();
  const probeOnce = (packagePath: string, probe: DawnProbe): ReturnType<typeof probeAdapter> => {
    let p = probed.get(probe);
    if (p === undefined) probed.set(probe, (p = probeAdapter(packagePath, probe.flags, probe.featureLevels, probe.env)));
    return p;
  };

  /** Finds an adapter with the probes; loads Dawn into this process only for one worth taking. */
  async function find(allowSoftware: boolean): Promise<{ gpu: GPU; adapter: Adapter; probe: DawnProbe; level: string; packages: Packages }> {
    const seen: string[] = [];
    let software = false;
    const probes = allowSoftware ? [...autoProbes, ...namedProbes] : autoProbes;
    const packagePath = require.resolve(DAWN_PACKAGE);
    for (const probe of probes) {
      try {
        // First in a child process (quiet, and a crashing driver takes only the child with it).
        const { found, stderr } = await probeOnce(packagePath, probe);
        if (found == null) {
          seen.push(`${probe.label}: no adapter${stderr ? ` (${lastLine(stderr)})` : ''}`);
          continue;
        }
        if (isSoftwareAdapter(found.info) && !allowSoftware) {
          software = true;
          seen.push(`${probe.label}: only a software adapter, ${describeAdapter(found.info)}`);
          continue;
        }
        const level = found.level;
        const packages = await loadPackages();
        const here = await withEnv(probe.env, async () => {
          const gpu = packages.dawn.create(probe.flags);
          const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance', featureLevel: level });
          return adapter == null ? null : { gpu, adapter, probe, level, packages };
        });
        if (here) return here;
        seen.push(`${probe.label}: ${describeAdapter(found.info)} was found by the probe but not in this process`);
      } catch (err) {
        seen.push(`${probe.label}: ${message(err)}`);
      }
    }
    const why = allowSoftware
      ? `no WebGPU adapter (${seen.join('; ')})`
      : `no hardware WebGPU adapter (${seen.join('; ')})${software ? "; 'auto' never picks a software adapter, setBackend('webgpu') does" : ''}`;
    throw new Error(why);
  }

  async function start(allowSoftware: boolean): Promise<Active> {
    const { gpu, adapter, probe, level, packages: { dawn, backendModule } } = await find(allowSoftware);
    const device = await withEnv(probe.env, () => adapter.requestDevice(deviceDescriptor(adapter)));

    const errors: string[] = [];
    device.addEventListener('uncapturederror', (event) => errors.push(event.error?.message?.split('\n')[0] ?? 'unknown error'));
    void device.lost.then((info) => errors.push(`device lost (${info.reason ?? 'unknown'}): ${info.message ?? ''}`.trim()));
    const log: GPUErrorLog = { take: () => errors.splice(0) };

    installPatch(PATCHES.webgpuGlobals, globalThis, Object.fromEntries(GPU_GLOBALS.map((name) => [name, dawn.globals[name]])));
    const software = isSoftwareAdapter(adapter.info);
    if (tf.findBackendFactory('webgpu') != null) tf.removeBackend('webgpu');
    tf.registerBackend('webgpu', () => {
      const backend = withNavigatorGpu(gpu, () => new backendModule.WebGPUBackend(device, adapter.info));
      enableSyncRead(backend, log);
      return backend;
    });
    const levelNote = level === 'compatibility' ? ', compatibility feature level' : '';
    const adapterText = `${describeAdapter(adapter.info)} via ${probe.label}${levelNote}${software ? ' — software, not a GPU' : ''}`;
    return { adapter: adapterText, software, gpu, device };
  }

  return {
    package: `${DAWN_PACKAGE} + ${WEBGPU_BACKEND_PACKAGE}`,
    async activate({ allowSoftware }: { allowSoftware: boolean }): Promise<WebGPUActivation> {
      if (active == null) active = await start(allowSoftware);
      else if (active.software && !allowSoftware) {
        throw new Error(`only a software adapter (${active.adapter}); 'auto' never picks one`);
      }
      if (!(await tf.setBackend('webgpu'))) throw new Error(`TF.js could not initialise the 'webgpu' backend on ${active.adapter}`);
      return { adapter: active.adapter, software: active.software };
    },
  };
}
