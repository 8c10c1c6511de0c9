/**
 * setBackend('auto' | name) and backendInfo(): the order tried, the reasons recorded, the errors
 * for backends that are not there. @tensorflow/tfjs-node(-gpu) are not installed here; a fake
 * package loader stands in for them where a test needs them present. This machine has no GPU:
 * tsfreeze's WebGPU provider finds no hardware adapter, so 'auto' goes on to wasm (WebGPU on its
 * software adapter is tested in backend-webgpu*.test.ts).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import * as tsfreeze from '../../lib/index';
import { setBackend, backendInfo, registerWebGPUProvider, setPackageLoaderForTests } from '../../lib/backend/select';

tf.env().set('PROD', true);
const nodeSetImmediate = globalThis.setImmediate;

/** Registers a stand-in backend under `name` (a plain cpu backend: enough to initialise). */
function fakeBackend(name: string): void {
  const cpu = tf.findBackendFactory('cpu');
  assert.ok(cpu);
  tf.registerBackend(name, cpu, 0);
}

function wasmLoaded(): boolean {
  return Object.keys(require.cache).some((k) => k.includes('tfjs-backend-wasm'));
}

test('importing tsfreeze neither loads the wasm backend nor picks a backend', () => {
  assert.equal(typeof tsfreeze.setBackend, 'function');
  assert.equal(typeof tsfreeze.backendInfo, 'function');
  assert.equal(wasmLoaded(), false);
  assert.equal(Object.keys(require.cache).some((k) => k.includes('tfjs-backend-webgpu')), false, 'tfjs-backend-webgpu is loaded only when WebGPU is tried');
  assert.equal(tf.findBackendFactory('wasm'), null);
  const info = backendInfo();
  assert.equal(info.name, 'none');
  assert.match(info.reason, /setBackend/);
});

test("'auto' skips the missing native packages and WebGPU, picks wasm, and says why", async () => {
  const info = await setBackend('auto');
  assert.equal(info.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(info.requested, 'auto');
  assert.equal(info.package, '@tensorflow/tfjs-backend-wasm');
  assert.equal(info.threads, 1);
  assert.equal(typeof info.simd, 'boolean');
  assert.match(info.reason, /WebAssembly/);
  assert.match(info.reason, /tfjs-node-gpu skipped/);
  assert.deepEqual(info.candidates.map((c) => [c.package ?? c.name, c.chosen]), [
    ['@tensorflow/tfjs-node-gpu', false],
    ['@tensorflow/tfjs-node', false],
    ['webgpu + @tensorflow/tfjs-backend-webgpu', false],
    ['@tensorflow/tfjs-backend-wasm', true],
  ]);
  assert.match(info.candidates[0].reason, /not installed \(npm install @tensorflow\/tfjs-node-gpu\)/);
  assert.match(info.candidates[1].reason, /not installed \(npm install @tensorflow\/tfjs-node\)/);
  assert.match(info.candidates[2].reason, /^not available: no hardware WebGPU adapter \(Dawn's default backend/);
  assert.equal(info.candidates[2].package, 'webgpu + @tensorflow/tfjs-backend-webgpu');
  assert.ok(info.kernels?.added.includes('Conv2DBackpropFilter'));
  assert.deepEqual(backendInfo(), info);
  // No adapter worth having: the probe ran in a child; Dawn and tfjs-backend-webgpu stayed out of this process.
  assert.equal(Object.keys(require.cache).some((k) => k.includes('tfjs-backend-webgpu')), false);
  assert.equal(globalThis.setImmediate, nodeSetImmediate, 'setImmediate is wrapped only once Dawn is loaded');
  // The wasm backend it picked can train a conv layer (Conv2DBackpropFilter is there).
  const filter = tf.variable(tf.ones([3, 3, 1, 2]));
  const { grads } = tf.variableGrads(() => tf.sum(tf.conv2d(tf.ones([1, 5, 5, 1]) as tf.Tensor4D, filter as tf.Variable<tf.Rank.R4>, 1, 'same')) as tf.Scalar);
  assert.deepEqual(Array.from(grads[filter.name].dataSync()).slice(0, 2), [16, 16]);
  tf.dispose([filter, ...Object.values(grads)]);
});

test("'webgpu' and 'tensorflow' by name fail with what to install", async () => {
  registerWebGPUProvider(null);
  try {
    await assert.rejects(setBackend('webgpu'), /backend 'webgpu' not available: install the optional packages 'webgpu' \(Dawn for Node\) and @tensorflow\/tfjs-backend-webgpu/);
  } finally {
    registerWebGPUProvider('default');
  }
  await assert.rejects(setBackend('tensorflow'), /backend 'tensorflow' not available: install @tensorflow\/tfjs-node \(or @tensorflow\/tfjs-node-gpu for CUDA\)/);
  await assert.rejects(setBackend('metal' as never), /unknown backend 'metal'/);
  assert.equal(backendInfo().name, 'wasm', 'a failed setBackend leaves the backend as it was');
});

test("'cpu' and 'wasm' by name; a tf.setBackend() outside tsfreeze is noticed", async () => {
  const cpu = await setBackend('cpu');
  assert.equal(cpu.name, 'cpu');
  assert.equal(cpu.requested, 'cpu');
  assert.equal(cpu.threads, 1);
  assert.equal(cpu.simd, false);
  assert.deepEqual(cpu.candidates.map((c) => c.name), ['cpu']);
  const wasm = await setBackend('wasm');
  assert.equal(wasm.name, 'wasm');
  assert.deepEqual(wasm.candidates.map((c) => c.name), ['wasm']);
  await tf.setBackend('cpu');
  const outside = backendInfo();
  assert.equal(outside.name, 'cpu');
  assert.equal(outside.requested, null);
  assert.match(outside.reason, /set outside tsfreeze \(tsfreeze had chosen 'wasm'\)/);
});

test("'auto' prefers an installed tfjs-node, and skips one that fails to load, with the error", async () => {
  try {
    setPackageLoaderForTests({
      installed: (pkg) => pkg === '@tensorflow/tfjs-node-gpu' || pkg === '@tensorflow/tfjs-node',
      load: (pkg) => {
        if (pkg === '@tensorflow/tfjs-node-gpu') throw new Error('libcudart.so.11.0: cannot open shared object file\nstack...');
        fakeBackend('tensorflow');
      },
    });
    const info = await setBackend('auto');
    assert.equal(info.name, 'tensorflow');
    assert.equal(tf.getBackend(), 'tensorflow');
    assert.equal(info.package, '@tensorflow/tfjs-node');
    assert.match(info.reason, /@tensorflow\/tfjs-node is installed: native TensorFlow/);
    assert.deepEqual(info.candidates.map((c) => [c.package, c.chosen]), [
      ['@tensorflow/tfjs-node-gpu', false],
      ['@tensorflow/tfjs-node', true],
    ]);
    assert.equal(info.candidates[0].reason, 'installed but failed to load: libcudart.so.11.0: cannot open shared object file');
    assert.equal((await setBackend('tensorflow')).package, '@tensorflow/tfjs-node');
  } finally {
    setPackageLoaderForTests(null);
    await tf.setBackend('cpu');
    tf.removeBackend('tensorflow');
  }
});

test('a package that loads but registers no backend is skipped', async () => {
  try {
    setPackageLoaderForTests({ installed: (pkg) => pkg === '@tensorflow/tfjs-node', load: () => undefined });
    const info = await setBackend('auto');
    assert.equal(info.name, 'wasm');
    assert.match(info.candidates[1].reason, /registered no 'tensorflow' backend/);
  } finally {
    setPackageLoaderForTests(null);
  }
});

test('WebGPU hook: a provider is used by name and by auto, and skipped with its reason when it fails', async () => {
  try {
    registerWebGPUProvider({
      package: 'webgpu',
      async activate() {
        if (tf.findBackendFactory('webgpu') == null) fakeBackend('webgpu');
        await tf.setBackend('webgpu');
        return { adapter: 'Test adapter (discrete GPU)' };
      },
    });
    const named = await setBackend('webgpu');
    assert.equal(named.name, 'webgpu');
    assert.equal(named.reason, 'WebGPU adapter: Test adapter (discrete GPU)');
    const auto = await setBackend('auto');
    assert.equal(auto.name, 'webgpu');
    assert.deepEqual(auto.candidates.map((c) => c.name), ['tensorflow', 'tensorflow', 'webgpu']);

    registerWebGPUProvider({ package: 'webgpu', activate: () => Promise.reject(new Error('no hardware adapter (only SwiftShader)')) });
    await assert.rejects(setBackend('webgpu'), /backend 'webgpu' not available: no hardware adapter \(only SwiftShader\)/);
    const fallback = await setBackend('auto');
    assert.equal(fallback.name, 'wasm');
    assert.equal(fallback.candidates[2].reason, 'not available: no hardware adapter (only SwiftShader)');
  } finally {
    registerWebGPUProvider('default');
    await tf.setBackend('cpu');
    if (tf.findBackendFactory('webgpu') != null) tf.removeBackend('webgpu');
  }
});
