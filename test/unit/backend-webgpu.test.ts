/**
 * The library behaves the same on WebGPU as on the cpu backend: one scenario (load a PyTorch
 * checkpoint, freeze what was loaded, BatchNorm statistics frozen and moving, the frozen-weight
 * guard, train() with parameter groups, LeNet5 training) runs on 'cpu' and on 'webgpu' in this
 * process, and the results are compared within float32 tolerance.
 *
 * This machine has no GPU: setBackend('webgpu') takes Mesa's llvmpipe through Dawn's OpenGL ES
 * backend (a software adapter, which 'auto' never picks). When WebGPU cannot start, the test
 * fails with setBackend's reason; it never skips.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend, registerWebGPUProvider, createDawnWebGPUProvider, OPENGLES_PROBE, isSoftwareAdapter } from '../../lib/backend';
import { loadStateDict } from '../../lib/model/load';
import { stateDictOf } from '../../lib/model/state-dict-of';
import { freeze } from '../../lib/freeze/freeze';
import { checkFrozen, fingerprint, FrozenWeightError } from '../../lib/freeze/guard';
import { train } from '../../lib/train/train';
import { mulberry32 } from '../../lib/train/data';
import type { StateDict } from '../../lib/statedict/tensor';
import { leNet, seqNet } from '../helpers/models';

const STATE_DICT = path.join(__dirname, '../fixtures/torch/state_dict.pt');
const BACKENDS = ['cpu', 'webgpu'] as const;
type Backend = (typeof BACKENDS)[number];

const logitsLoss = (y: tf.Tensor, logits: tf.Tensor): tf.Scalar => tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;

/** Seeded inputs and one-hot targets. */
function data(n: number, shape: number[], classes: number, seed: number): { x: tf.Tensor; y: tf.Tensor } {
  const rand = mulberry32(seed);
  const size = n * shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor(Float32Array.from({ length: size }, () => rand() * 2 - 1), [n, ...shape]);
  const y = tf.oneHot(tf.tensor1d(Int32Array.from({ length: n }, () => Math.floor(rand() * classes)), 'int32'), classes);
  return { x, y };
}

/** A model's weights with seeded values (for LeNet5, whose TF.js initialisers are not seeded). */
function seeded(model: tf.LayersModel, seed: number): StateDict {
  const rand = mulberry32(seed);
  const sd = stateDictOf(model);
  for (const t of sd.values()) {
    const d = t.data as Float32Array;
    const scale = 1 / Math.sqrt(Math.max(1, t.shape.slice(0, -1).reduce((a, b) => a * b, 1)));
    for (let i = 0; i < d.length; i++) d[i] = (rand() * 2 - 1) * scale;
  }
  return sd;
}

function values(sd: StateDict): Record<string, number[]> {
  return Object.fromEntries([...sd].map(([k, t]) => [k, Array.from(t.data as Float32Array)]));
}

interface Outcome {
  adapter: string;
  loaded: string[];
  /** Weights right after loadStateDict, read back from the backend. */
  afterLoad: Record<string, number[]>;
  frozenKeys: string[];
  /** Model A (backbone and its BatchNorm frozen) before and after train() with parameter groups. */
  frozenBefore: Record<string, number[]>;
  frozenAfter: Record<string, number[]>;
  groups: { name: string; lr: number; keys: string[] }[];
  lossesA: number[];
  weightsA: Record<string, number[]>;
  /** Model B (nothing frozen): its BatchNorm statistics move. */
  statsBefore: Record<string, number[]>;
  statsAfter: Record<string, number[]>;
  /** The guard: a frozen weight moved behind train()'s back. */
  guardQuiet: boolean;
  guardKeys: string[];
  guardMaxChange: number;
  /** LeNet5 from seeded weights, 4 SGD-momentum steps. */
  lenetLosses: number[];
  lenetWeights: Record<string, number[]>;
}

async function scenario(backend: Backend): Promise<Outcome> {
  const info = await setBackend(backend);
  assert.equal(tf.getBackend(), backend);
  // tfjs-backend-webgpu runs kernels whose inputs are small and still on the CPU there; with
  // WEBGPU_CPU_FORWARD off every kernel of the scenario runs on the WebGPU device.
  if (backend === 'webgpu') tf.env().set('WEBGPU_CPU_FORWARD', false);
  const { x, y } = data(16, [8, 8, 1], 2, 7);

  // A: load the PyTorch checkpoint, freeze the backbone it filled (conv + BatchNorm), train the rest in two groups.
  const a = seqNet();
  const report = await loadStateDict(a, STATE_DICT, { strict: true });
  const afterLoad = values(stateDictOf(a));
  const frozen = freeze(a, ['0', '1']);
  const frozenBefore = values(new Map([...stateDictOf(a)].filter(([k]) => frozen.keys.includes(k))));
  const history = await train(a, { x, y }, {
    loss: logitsLoss, epochs: 2, batchSize: 8, optimizer: 'sgd', lr: 0.05, momentum: 0.9,
    paramGroups: [{ params: '4', name: 'dense', lr: 0.02 }, { params: 'head.**', name: 'head', lr: 0.1, momentum: 0 }],
    guard: { every: 'step' },
  });
  const weightsA = values(stateDictOf(a));
  const frozenAfter = Object.fromEntries(frozen.keys.map((k) => [k, weightsA[k]]));

  // The guard: quiet now, then a frozen weight changed by hand is caught, named, and measured.
  const fp = fingerprint(a);
  let guardQuiet = true;
  try {
    checkFrozen(a, fp);
  } catch {
    guardQuiet = false;
  }
  const conv = a.layers[0].getWeights()[0];
  a.layers[0].setWeights([tf.add(conv, 0.25), a.layers[0].getWeights()[1]]);
  let guardKeys: string[] = [];
  let guardMaxChange = NaN;
  try {
    checkFrozen(a, fp);
  } catch (err) {
    assert.ok(err instanceof FrozenWeightError, String(err));
    guardKeys = err.changes.map((c) => c.key);
    guardMaxChange = Math.max(...err.changes.map((c) => c.maxAbsChange));
  }

  // B: the same checkpoint, nothing frozen: training moves the BatchNorm statistics.
  const b = seqNet();
  await loadStateDict(b, STATE_DICT, { strict: true });
  const stat = (m: tf.LayersModel) => values(new Map([...stateDictOf(m)].filter(([k]) => /moving_/.test(k))));
  const statsBefore = stat(b);
  await train(b, { x, y }, { loss: logitsLoss, epochs: 1, batchSize: 8, optimizer: 'sgd', lr: 0.05 });
  const statsAfter = stat(b);

  // LeNet5 (seed 003's network): conv, pooling and dense gradients on the backend.
  const net = leNet(false);
  await loadStateDict(net, seeded(net, 3), { strict: true });
  const digits = data(8, [28, 28, 1], 10, 11);
  const lenet = await train(net, digits, { loss: logitsLoss, epochs: 4, batchSize: 8, optimizer: 'sgd', lr: 0.05, momentum: 0.9 });

  tf.dispose([x, y, digits.x, digits.y]);
  return {
    adapter: info.adapter ?? info.reason,
    loaded: report.loaded, afterLoad, frozenKeys: frozen.keys, frozenBefore, frozenAfter,
    groups: history.groups.map((g) => ({ name: g.name, lr: g.lr, keys: g.keys })),
    lossesA: history.loss, weightsA, statsBefore, statsAfter,
    guardQuiet, guardKeys, guardMaxChange,
    lenetLosses: lenet.loss, lenetWeights: values(stateDictOf(net)),
  };
}

/** Largest |a - b| / (1 + |a|) over two same-shaped sets of weights. */
function maxRelDiff(a: Record<string, number[]>, b: Record<string, number[]>): { key: string; diff: number } {
  assert.deepEqual(Object.keys(b), Object.keys(a));
  let worst = { key: '', diff: 0 };
  for (const k of Object.keys(a)) {
    assert.equal(b[k].length, a[k].length, k);
    for (let i = 0; i < a[k].length; i++) {
      const d = Math.abs(a[k][i] - b[k][i]) / (1 + Math.abs(a[k][i]));
      if (!(d <= worst.diff)) worst = { key: `${k}[${i}]`, diff: d };
    }
  }
  return worst;
}

function closeTo(actual: number[], expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) <= tol * (1 + Math.abs(expected[i])), `${what}[${i}]: ${v} vs ${expected[i]}`));
}

test('the same scenario on cpu and on webgpu gives the same results', { timeout: 120_000 }, async (t) => {
  const results = {} as Record<Backend, Outcome>;
  for (const backend of BACKENDS) {
    const t0 = performance.now();
    results[backend] = await scenario(backend);
    t.diagnostic(`${backend}: ${((performance.now() - t0) / 1000).toFixed(1)} s on ${results[backend].adapter}`);
  }
  const { cpu, webgpu } = results;
  const TOL = 1e-4;

  assert.match(webgpu.adapter, /./);
  // Loading: the same keys; values read back from the GPU exactly as loaded.
  assert.ok(cpu.loaded.length >= 8, `loaded ${cpu.loaded.length}`);
  assert.deepEqual(webgpu.loaded, cpu.loaded);
  assert.deepEqual(webgpu.afterLoad, cpu.afterLoad);
  // Freezing: the same keys, BatchNorm statistics included; frozen values bit-identical after training on both.
  assert.deepEqual(webgpu.frozenKeys, cpu.frozenKeys);
  assert.ok(cpu.frozenKeys.includes('1.moving_mean') && cpu.frozenKeys.includes('1.moving_variance'));
  for (const r of [cpu, webgpu]) assert.deepEqual(r.frozenAfter, r.frozenBefore);
  assert.deepEqual(webgpu.frozenAfter, cpu.frozenAfter);
  // Parameter groups and the training they did.
  assert.deepEqual(webgpu.groups, cpu.groups);
  assert.deepEqual(cpu.groups.map((g) => g.name), ['dense', 'head']);
  assert.equal(cpu.lossesA.length, 4);
  closeTo(webgpu.lossesA, cpu.lossesA, TOL, 'losses with parameter groups');
  const a = maxRelDiff(cpu.weightsA, webgpu.weightsA);
  assert.ok(a.diff <= TOL, `trained weights differ at ${a.key} by ${a.diff}`);
  assert.notDeepEqual(cpu.weightsA['head.fc.kernel'], cpu.afterLoad['head.fc.kernel'], 'the head trained');
  // BatchNorm statistics of a layer that is not frozen move, by the same amounts on both.
  assert.notDeepEqual(cpu.statsAfter, cpu.statsBefore);
  const s = maxRelDiff(cpu.statsAfter, webgpu.statsAfter);
  assert.ok(s.diff <= TOL, `moving statistics differ at ${s.key} by ${s.diff}`);
  // The guard: quiet after honest training; names the weight moved by hand, and by how much.
  for (const r of [cpu, webgpu]) {
    assert.equal(r.guardQuiet, true);
    assert.deepEqual(r.guardKeys, ['0.kernel']);
    assert.ok(Math.abs(r.guardMaxChange - 0.25) < 1e-6, String(r.guardMaxChange));
  }
  // LeNet5 trains: the loss falls, and the same way on both.
  assert.ok(cpu.lenetLosses[3] < cpu.lenetLosses[0], `LeNet5 losses ${cpu.lenetLosses}`);
  closeTo(webgpu.lenetLosses, cpu.lenetLosses, TOL, 'LeNet5 losses');
  const l = maxRelDiff(cpu.lenetWeights, webgpu.lenetWeights);
  assert.ok(l.diff <= TOL, `LeNet5 weights differ at ${l.key} by ${l.diff}`);
  t.diagnostic(`largest relative differences webgpu vs cpu: weights after groups ${a.diff.toExponential(1)}, BatchNorm statistics ${s.diff.toExponential(1)}, LeNet5 weights ${l.diff.toExponential(1)}; LeNet5 losses ${cpu.lenetLosses.map((v) => v.toFixed(4)).join(' ')}`);
});

test("webgpu by name: synchronous and asynchronous reads, no navigator left behind, setImmediate still Node's", { timeout: 60_000 }, async () => {
  const info = await setBackend('webgpu');
  assert.equal(info.name, 'webgpu');
  assert.equal(typeof info.software, 'boolean');
  if (info.software) assert.match(info.adapter ?? '', /llvmpipe|lavapipe|swiftshader/i);
  const t = tf.tidy(() => tf.add(tf.range(0, 6, 1, 'float32').reshape([2, 3]), 1));
  assert.deepEqual(t.arraySync(), [[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(Array.from(await tf.mul(t, 2).data()), [2, 4, 6, 8, 10, 12]);
  assert.deepEqual(Array.from(tf.cast(t, 'int32').dataSync()), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(tf.greater(t, 3).dataSync()), [0, 0, 0, 1, 1, 1]);
  t.dispose();
  assert.equal((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu, undefined);
  assert.equal((globalThis as { GPUBufferUsage?: { MAP_READ?: number } }).GPUBufferUsage?.MAP_READ, 1, "Dawn's GPUBufferUsage is a global for the kernels");
  assert.equal(await new Promise((resolve) => setImmediate((v: string) => resolve(v), 'js callback')), 'js callback');
  assert.equal(await promisify(setImmediate)('promisified'), 'promisified');
});

test("'auto' never takes a software adapter, even when its own probe finds one", { timeout: 60_000 }, async () => {
  try {
    registerWebGPUProvider(createDawnWebGPUProvider({ autoProbes: [OPENGLES_PROBE], namedProbes: [] }));
    const info = await setBackend('auto');
    assert.notEqual(info.name, 'webgpu');
    const webgpu = info.candidates.find((c) => c.name === 'webgpu');
    assert.match(webgpu?.reason ?? '', /no hardware WebGPU adapter \(OpenGL ES through EGL \(surfaceless\): only a software adapter, llvmpipe/);
    assert.match(webgpu?.reason ?? '', /'auto' never picks a software adapter, setBackend\('webgpu'\) does/);
  } finally {
    registerWebGPUProvider('default');
  }
  // tsfreeze's own provider: its device is the software one now, which 'auto' refuses too.
  await setBackend('webgpu');
  const again = await setBackend('auto');
  assert.notEqual(again.name, 'webgpu');
  assert.match(again.candidates.find((c) => c.name === 'webgpu')?.reason ?? '', /only a software adapter .*'auto' never picks one/);
});

test('isSoftwareAdapter: llvmpipe, lavapipe, SwiftShader, WARP and fallback adapters are software; GPUs driven by Mesa or NVIDIA are not', () => {
  assert.equal(isSoftwareAdapter({ vendor: '', architecture: '', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'OpenGL version OpenGL ES 3.2 Mesa 22.3.6' }), true);
  assert.equal(isSoftwareAdapter({ vendor: 'mesa', device: 'llvmpipe (LLVM 15.0.6, 256 bits)', description: 'Mesa 22.3.6 (LLVM 15.0.6) lavapipe' }), true);
  assert.equal(isSoftwareAdapter({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader Device (Subzero)' }), true);
  assert.equal(isSoftwareAdapter({ vendor: 'microsoft', description: 'Microsoft Basic Render Driver' }), true);
  assert.equal(isSoftwareAdapter({ vendor: 'nvidia', description: 'any', isFallbackAdapter: true }), true);
  assert.equal(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H100 80GB HBM3', description: 'NVIDIA: 550.54.15' }), false);
  assert.equal(isSoftwareAdapter({ vendor: 'amd', architecture: 'rdna-2', device: 'AMD Radeon RX 6800 (RADV NAVI21)', description: 'radv Mesa 23.0.4' }), false);
  assert.equal(isSoftwareAdapter({ vendor: 'intel', architecture: 'gen-12lp', description: 'Intel open-source Mesa driver: Mesa 22.3.6' }), false);
});

test('an error WebGPU reports only as an event is raised at the next read, then reads work again', { timeout: 60_000 }, async () => {
  await setBackend('webgpu');
  const device = (tf.backend() as unknown as { device: { createBuffer(d: { size: number; usage: number }): { destroy(): void } } }).device;
  // MAP_READ may only be combined with COPY_DST: a validation error, reported as an 'uncapturederror' event.
  const MAP_READ = 0x0001;
  const STORAGE = 0x0080;
  device.createBuffer({ size: 16, usage: MAP_READ | STORAGE });
  const t = tf.tidy(() => tf.mul(tf.range(0, 4), 2));
  assert.throws(() => t.dataSync(), /WebGPU reported an error while computing the tensor read back: .*usage/i);
  const u = tf.tidy(() => tf.add(tf.range(0, 4), 1));
  assert.deepEqual(Array.from(u.dataSync()), [1, 2, 3, 4]);
  tf.dispose([t, u]);
});
