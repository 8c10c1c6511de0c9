/**
 * lib/patches: every entry of the table, installed on a real target, changes what it says, and
 * its undo leaves the dependency exactly as it was (same property descriptors, same functions,
 * same registrations). Also the version check and its three policies.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  PATCHES, activePatches, installPatch, isPatched, replaceProperty, versionInRange, installedVersion, PatchError, UNCHECKED_PATCHES_ENV,
  type KernelSet, type Patch, type PatchName,
} from '../../lib/patches';

tf.env().set('PROD', true);

// The modules themselves (an ES namespace import would be a copy whose properties cannot be patched).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const os = require('node:os') as typeof import('node:os');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const workerThreads = require('node:worker_threads') as typeof import('node:worker_threads');
const CPUS = os.cpus().length;

/** What a patch may change on its target, as comparable values: own descriptors and values seen through the prototype chain. */
function snapshot(target: object, keys: PropertyKey[]): unknown[] {
  return keys.map((k) => {
    const own = Object.getOwnPropertyDescriptor(target, k);
    return { key: String(k), own: own ? { ...own } : 'inherited or absent', value: (target as Record<PropertyKey, unknown>)[k] };
  });
}

interface Case {
  /** Installs the entry on a real target; returns what to compare and a check that the patch works while installed. */
  run(): Promise<{ before: unknown; installed: () => void; after: () => unknown; undo: () => void }>;
}

/** Generic case for an entry that replaces properties of one target. */
function propertyCase<T extends object, A extends unknown[]>(patch: Patch<T, A>, target: () => T | Promise<T>, keys: PropertyKey[], args: () => A, whileInstalled: (t: T) => void): Case {
  return {
    async run() {
      const t = await target();
      const before = snapshot(t, keys);
      const handle = installPatch(patch, t, ...args());
      assert.ok(handle, `${patch.id} was installed`);
      return {
        before,
        installed: () => {
          assert.notDeepEqual(snapshot(t, keys), before, `${patch.id} changed nothing`);
          assert.ok(isPatched(patch, t));
          whileInstalled(t);
        },
        after: () => snapshot(t, keys),
        undo: () => handle.undo(),
      };
    },
  };
}

let wasmLoaded = false;
async function wasmBackend(): Promise<import('@tensorflow/tfjs-backend-wasm').BackendWasm> {
  if (!wasmLoaded) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('@tensorflow/tfjs-backend-wasm');
    wasmLoaded = true;
  }
  assert.ok(await tf.setBackend('wasm'));
  return tf.backend() as import('@tensorflow/tfjs-backend-wasm').BackendWasm;
}

const registryKeys = (): Record<string, unknown> => {
  const entry = tf.engine().registryFactory.wasm;
  return { factory: entry?.factory, priority: entry?.priority };
};

/** One case per entry of PATCHES, in an order where the wasm backend factory is replaced before the backend starts. */
const CASES: Record<PatchName, Case> = {
  processExit: propertyCase(PATCHES.processExit, () => process, ['exit'],
    () => [() => ((code?: number | string | null) => { throw new Error(`exit(${code}) refused`); }) as NodeJS.Process['exit']] as [(real: NodeJS.Process['exit']) => NodeJS.Process['exit']],
    (p) => assert.throws(() => p.exit(3), /exit\(3\) refused/)),
  wasmBackendFactory: {
    async run() {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@tensorflow/tfjs-backend-wasm');
      wasmLoaded = true;
      assert.equal(tf.engine().registry.wasm, undefined, 'the wasm backend must not be initialised yet');
      const before = registryKeys();
      let wrapped = 0;
      const handle = installPatch(PATCHES.wasmBackendFactory, tf, (f) => () => { wrapped++; return f(); });
      assert.ok(handle);
      return {
        before,
        installed: () => assert.notEqual(registryKeys().factory, before.factory),
        after: registryKeys,
        undo: () => { handle.undo(); assert.equal(wrapped, 0); },
      };
    },
  },
  engineRunKernel: (() => {
    let calls: string[] = [];
    return propertyCase(PATCHES.engineRunKernel, async () => { assert.ok(await tf.setBackend('cpu')); return tf.engine(); }, ['runKernel'], () => [(name: string) => { calls.push(name); }] as [(name: string) => void], () => {
      calls = [];
      tf.tidy(() => tf.add(tf.ones([2]), tf.ones([2])));
      assert.ok(calls.includes('Add'), `runKernel hook saw ${calls}`);
    });
  })(),
  wasmBackendData: (() => {
    const seen: string[] = [];
    return propertyCase(PATCHES.wasmBackendData, wasmBackend, ['read', 'readSync', 'typedArrayFromHeap', 'disposeData'], () => [{
      beforeRead: () => { seen.push('read'); }, afterDispose: (_: unknown, freed: boolean) => { seen.push(`disposed ${freed}`); },
    }], () => {
      const t = tf.ones([3]);
      t.dataSync();
      (tf.backend() as import('@tensorflow/tfjs-backend-wasm').BackendWasm).typedArrayFromHeap(t);
      t.dispose();
      assert.deepEqual(seen, ['read', 'read', 'disposed true']);
    });
  })(),
  wasmHeapView: propertyCase(PATCHES.wasmHeapView, wasmBackend, ['typedArrayFromHeap'], () => [] as [], () => {
    // A tensor made on cpu, large enough that moving it into the wasm heap grows the heap.
    void tf.setBackend('cpu');
    const big = tf.fill([32 * 1024 * 1024], 2);
    void tf.setBackend('wasm');
    const view = (tf.backend() as import('@tensorflow/tfjs-backend-wasm').BackendWasm).typedArrayFromHeap(big);
    assert.equal(view[view.length - 1], 2);
    big.dispose();
  }),
  wasmKernels: (() => {
    const set = (): KernelSet => ({
      backend: 'wasm', added: [], replaced: [], originals: new Map(),
      add: [{ kernelName: 'TsfreezePatchTest', backendName: 'wasm', kernelFunc: () => { throw new Error('not run'); } }],
      replace: [{ kernelName: 'Neg', backendName: 'wasm', kernelFunc: () => { throw new Error('not run'); } }],
    });
    const kernels = (): unknown[] => [tf.getKernel('TsfreezePatchTest', 'wasm'), tf.getKernel('Neg', 'wasm')];
    return {
      async run() {
        await wasmBackend();
        const before = kernels();
        const s = set();
        const handle = installPatch(PATCHES.wasmKernels, tf, s);
        assert.ok(handle);
        return {
          before,
          installed: () => {
            assert.deepEqual([s.added, s.replaced], [['TsfreezePatchTest'], ['Neg']]);
            assert.ok(tf.getKernel('TsfreezePatchTest', 'wasm'));
            assert.equal(tf.getKernel('Neg', 'wasm')?.setupFunc, s.originals.get('Neg')?.setupFunc, 'the replacement keeps the setupFunc');
            assert.notEqual(tf.getKernel('Neg', 'wasm'), before[1]);
          },
          after: kernels,
          undo: () => handle.undo(),
        };
      },
    };
  })(),
  workerThreadsWorker: propertyCase(PATCHES.workerThreadsWorker, () => workerThreads, ['Worker'],
    () => [(Base: typeof workerThreads.Worker) => class extends Base {}] as [(b: typeof workerThreads.Worker) => typeof workerThreads.Worker],
    (m) => assert.ok(Object.getPrototypeOf(m.Worker) !== Object.prototype)),
  osCpusDoubled: propertyCase(PATCHES.osCpusDoubled, () => os, ['cpus'], () => [] as [], (m) => assert.equal(m.cpus().length, 2 * CPUS)),
  setImmediate: propertyCase(PATCHES.setImmediate, () => globalThis, ['setImmediate'],
    () => [(real: typeof setImmediate) => ((cb: () => void) => real(cb)) as typeof setImmediate] as [(r: typeof setImmediate) => typeof setImmediate],
    (g) => assert.equal(typeof g.setImmediate, 'function')),
  navigatorGpu: (() => {
    const gpu = { fake: true };
    return propertyCase(PATCHES.navigatorGpu, () => globalThis, ['navigator'], () => [gpu] as [unknown],
      (g) => assert.equal((g as unknown as { navigator: { gpu: unknown } }).navigator.gpu, gpu));
  })(),
  webgpuGlobals: (() => {
    const names = ['GPUBufferUsage', 'GPUMapMode', 'GPUTextureUsage', 'GPUBuffer', 'GPUTexture'];
    return propertyCase(PATCHES.webgpuGlobals, () => globalThis, names, () => [Object.fromEntries(names.map((n) => [n, { n }]))] as [Record<string, unknown>],
      (g) => assert.deepEqual((g as unknown as Record<string, unknown>).GPUMapMode, { n: 'GPUMapMode' }));
  })(),
  webgpuReadSync: propertyCase(PATCHES.webgpuReadSync, async () => {
    assert.ok(await tf.setBackend('cpu'));
    return tf.backend();
  }, ['read', 'readSync'], () => {
    const cpu = tf.findBackend('cpu') as tf.KernelBackend;
    const proto = Object.getPrototypeOf(cpu) as tf.KernelBackend;
    return [{ readSync: (dataId: object) => proto.readSync.call(cpu, dataId), read: (read: tf.KernelBackend['read']) => (dataId: object) => read(dataId) }];
  }, () => {
    const t = tf.tensor([1, 2]);
    assert.deepEqual(Array.from(t.dataSync()), [1, 2]);
    t.dispose();
  }),
  sequentialBuild: (() => {
    let built = 0;
    return propertyCase(PATCHES.sequentialBuild, () => tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] }), ['build'],
      () => [() => { built++; }] as [() => void], (m) => {
        m.build([null, 3]);
        assert.equal(built, 1);
      });
  })(),
  batchNormCall: propertyCase(PATCHES.batchNormCall, () => {
    const layer = tf.layers.batchNormalization({ inputShape: [2] });
    layer.build([null, 2]);
    return layer;
  }, ['call'], () => [] as [], (layer) => {
    // Training mode, but the moving mean stays (inference mode).
    tf.tidy(() => layer.apply(tf.tensor([[1, 2], [3, 4]]), { training: true }));
    assert.deepEqual(Array.from(layer.getWeights()[2].dataSync()), [0, 0]);
  }),
};

test('every entry of PATCHES has a case here', () => {
  assert.deepEqual(Object.keys(CASES).sort(), Object.keys(PATCHES).sort());
  const ids = Object.values(PATCHES).map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'ids are unique');
  for (const p of Object.values(PATCHES)) {
    // installedVersion knows 'node' (Node.js itself), which has no package.json to require.
    assert.ok(versionInRange(installedVersion(p.package), p.checked),
      `${p.id}: the installed ${p.package} is outside its checked range ${p.checked}`);
  }
});

for (const [name, c] of Object.entries(CASES)) {
  test(`${name}: installed, it does what it says; undone, the dependency is as it was`, async () => {
    const { before, installed, after, undo } = await c.run();
    const id = PATCHES[name as PatchName].id;
    assert.ok(activePatches().some((p) => p.id === id), `${id} is listed as active`);
    installed();
    undo();
    assert.deepEqual(after(), before);
    assert.ok(!activePatches().some((p) => p.id === id), `${id} is no longer listed`);
  });
}

test('versionInRange: x-ranges, comparators, alternatives', () => {
  assert.ok(versionInRange('4.22.0', '4.22.x'));
  assert.ok(versionInRange('4.22.7', '4.22'));
  assert.ok(!versionInRange('4.23.0', '4.22.x'));
  assert.ok(versionInRange('20.19.2', '>=20.19 <25'));
  assert.ok(!versionInRange('20.18.0', '>=20.19 <25'));
  assert.ok(!versionInRange('25.0.0', '>=20.19 <25'));
  assert.ok(versionInRange('0.6.2', '0.5.x || 0.6.x'));
  assert.ok(!versionInRange('not installed', '4.22.x'));
});

test('a version outside the checked range: throw, skip with a warning, or warn and install; the environment override installs', async () => {
  const obj = { f: () => 'original' };
  const make = (onMismatch: 'throw' | 'skip' | 'warn', id: string): Patch<typeof obj> => ({
    id, package: '@tensorflow/tfjs-core', checked: '0.0.x', onMismatch, scope: 'instance', owner: 'test', what: 'test', ifSkipped: 'nothing lost',
    apply(target) { return replaceProperty(target, 'f', () => () => 'patched', this.id); },
  });
  const warnings: string[] = [];
  const onWarning = (w: Error): void => { warnings.push(w.message); };
  process.on('warning', onWarning);
  try {
    assert.throws(() => installPatch(make('throw', 'test:throw'), obj), (e: unknown) => e instanceof PatchError && /checked against @tensorflow\/tfjs-core 0\.0\.x, but 4\.22\.\d+ is installed/.test(e.message));
    assert.equal(obj.f(), 'original');
    assert.equal(installPatch(make('skip', 'test:skip'), obj), null);
    assert.equal(obj.f(), 'original');
    const warned = installPatch(make('warn', 'test:warn'), obj);
    assert.equal(obj.f(), 'patched');
    warned?.undo();
    process.env[UNCHECKED_PATCHES_ENV] = '1';
    const forced = installPatch(make('throw', 'test:forced'), obj);
    assert.equal(obj.f(), 'patched');
    forced?.undo();
    assert.equal(obj.f(), 'original');
    await new Promise((r) => setImmediate(r));
  } finally {
    delete process.env[UNCHECKED_PATCHES_ENV];
    process.off('warning', onWarning);
  }
  assert.ok(warnings.some((w) => /test:skip .* not installed \(nothing lost\)/.test(w)), warnings.join('\n'));
  assert.ok(warnings.some((w) => /test:warn .* installed anyway/.test(w)), warnings.join('\n'));
});

test('undo refuses to drop a later change of the same property; installing twice returns the same handle', () => {
  const obj = { f: (): string => 'original' };
  const patch: Patch<typeof obj> = {
    id: 'test:stack', package: 'node', checked: '>=20', onMismatch: 'throw', scope: 'instance', owner: 'test', what: 'test',
    apply(target) { return replaceProperty(target, 'f', () => () => 'patched', this.id); },
  };
  const handle = installPatch(patch, obj);
  assert.equal(installPatch(patch, obj), handle);
  const ours = obj.f;
  obj.f = () => 'someone else';
  assert.throws(() => handle?.undo(), /was replaced again/);
  obj.f = ours;
  handle?.undo();
  assert.equal(obj.f(), 'original');
  assert.ok(!Object.prototype.hasOwnProperty.call(obj, 'g'));
});
