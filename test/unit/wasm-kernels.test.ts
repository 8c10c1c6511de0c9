/**
 * tsfreeze's kernels for the wasm backend against TF.js's cpu backend: same inputs, both
 * backends, outputs within 1e-4 (absolute, or relative where noted). Shapes stay small: the
 * cpu backend's own Conv2DBackpropFilter costs about 100 ns a multiply-add.
 */
import { mulberry32 as rng } from '../../lib/train/data';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  ADDED_WASM_KERNELS, REPLACED_WASM_KERNELS, registerWasmTrainingKernels, unregisterWasmTrainingKernels,
} from '../../lib/backend/wasm/kernels';
import { loadWasmBackend } from '../../lib/backend/wasm/load';
import { lazyCounts } from '../../lib/backend/wasm/lazy';
import { foldStats } from '../../lib/backend/wasm/kernel-utils/fused-conv';
import { setWinograd } from '../../lib/backend/wasm/kernel-utils/winograd';

tf.env().set('PROD', true); // no "Hi there" banner, no NaN checks

type Input = { shape: number[]; dtype?: 'float32' | 'int32' | 'bool'; values?: ArrayLike<number>; seed?: number; ints?: number };

/** Values in [-1, 1), or small integers (ties for pooling) when ints is given. */
function values(spec: Input, index: number): Float32Array | Int32Array {
  const n = spec.shape.reduce((p, d) => p * d, 1);
  if (spec.values) return spec.dtype === 'int32' || spec.dtype === 'bool' ? Int32Array.from(spec.values) : Float32Array.from(spec.values);
  const r = rng(spec.seed ?? 1234 + index * 7919);
  if (spec.dtype === 'int32' || spec.dtype === 'bool' || spec.ints != null) {
    const k = spec.ints ?? (spec.dtype === 'bool' ? 2 : 7);
    const out = spec.dtype === 'int32' || spec.dtype === 'bool' ? new Int32Array(n) : new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(r() * k) - (spec.dtype === 'bool' ? 0 : Math.floor(k / 2));
    return out;
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() * 2 - 1;
  return out;
}

interface Result { shape: number[]; dtype: string; data: Float32Array | Int32Array | Uint8Array }

async function runOn(backend: string, kernel: string, inputs: Record<string, Input>, attrs: tf.NamedAttrMap): Promise<Result> {
  assert.ok(await tf.setBackend(backend));
  const made: tf.Tensor[] = [];
  const named: Record<string, tf.Tensor> = {};
  Object.entries(inputs).forEach(([name, spec], i) => {
    const t = tf.tensor(values(spec, i), spec.shape, spec.dtype ?? 'float32');
    made.push(t);
    named[name] = t;
  });
  const out = tf.engine().runKernel(kernel, named, attrs) as tf.Tensor;
  const result = { shape: out.shape.slice(), dtype: out.dtype, data: (out.dataSync() as Float32Array).slice() };
  out.dispose();
  made.forEach((t) => t.dispose());
  return result;
}

let loaded = false;
async function wasmReady(): Promise<void> {
  if (!loaded) {
    loadWasmBackend();
    loaded = true;
  }
  assert.ok(await tf.setBackend('wasm'));
}

function close(label: string, got: Result, want: Result, tol = 1e-4, relative = false, dtype = want.dtype): void {
  assert.deepEqual(got.shape, want.shape, `${label}: shape`);
  assert.equal(got.dtype, dtype, `${label}: dtype`);
  assert.equal(got.data.length, want.data.length, `${label}: size`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.data.length; i++) {
    const a = got.data[i];
    const b = want.data[i];
    if (Number.isNaN(b) && Number.isNaN(a)) continue;
    const err = Math.abs(a - b) / (relative ? Math.max(1, Math.abs(b)) : 1);
    if (!(err <= worst)) {
      worst = Number.isNaN(err) ? Infinity : err;
      at = i;
    }
  }
  assert.ok(worst <= tol, `${label}: |wasm - cpu| = ${worst} at ${at} (wasm ${got.data[at]}, cpu ${want.data[at]})`);
}

async function check(label: string, kernel: string, inputs: Record<string, Input>, attrs: tf.NamedAttrMap, tol = 1e-4, dtype?: string): Promise<void> {
  await wasmReady();
  const got = await runOn('wasm', kernel, inputs, attrs);
  const want = await runOn('cpu', kernel, inputs, attrs);
  close(label, got, want, tol, false, dtype);
}

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

/** Conv cases: [batch, h, w, inC, outC, kh, kw, strides, pad]. */
const CONV_CASES: [number, number, number, number, number, number, number, number | [number, number], Pad][] = [
  [1, 5, 5, 1, 1, 3, 3, 1, 'same'],
  [2, 7, 7, 3, 4, 3, 3, 1, 'same'],
  [2, 7, 7, 3, 4, 3, 3, 1, 'valid'],
  [3, 8, 6, 2, 5, 3, 3, 2, 'same'],
  [3, 8, 6, 2, 5, 3, 3, 2, 'valid'],
  [2, 9, 9, 4, 3, 5, 5, 1, 'same'],
  [2, 9, 9, 4, 3, 5, 5, 2, 'valid'],
  [1, 6, 7, 3, 2, 2, 3, [2, 1], 'same'],
  [2, 7, 8, 3, 2, 2, 3, [1, 2], 'valid'],
  [4, 6, 6, 5, 6, 1, 1, 1, 'valid'],
  [2, 8, 8, 3, 4, 1, 1, 2, 'same'],
  [1, 10, 10, 1, 6, 5, 5, 1, 'same'],
  [2, 7, 7, 2, 3, 3, 3, 3, 'valid'],
  [2, 7, 7, 2, 3, 4, 4, 2, 'same'],
  [2, 6, 6, 2, 3, 3, 3, 1, 1],
  [2, 9, 8, 1, 3, 3, 3, 2, 'same'], // one input channel: the depthwise path of Conv2DBackpropInput
  [3, 9, 8, 1, 4, 3, 2, 2, 'valid'],
  [2, 8, 8, 1, 1, 5, 5, 1, 'valid'],
  [2, 7, 6, 2, 3, 3, 2, 2, [[0, 0], [1, 2], [0, 1], [0, 0]]],
  [2, 7, 6, 1, 3, 3, 4, 1, [[0, 0], [2, 1], [0, 3], [0, 0]]], // one channel, stride 1: the patch-matrix path of Conv2DBackpropFilter
];

function convShapes(c: (typeof CONV_CASES)[number]): { x: number[]; filter: number[]; dy: number[] } {
  const [n, h, w, ci, co, kh, kw, strides, pad] = c;
  const info = tf.backend_util.computeConv2DInfo([n, h, w, ci], [kh, kw, ci, co], strides, 1, pad, pad === 1 ? 'floor' : undefined);
  return { x: [n, h, w, ci], filter: [kh, kw, ci, co], dy: info.outShape };
}

test('the wasm backend itself lacks the gradient kernels that tsfreeze adds', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('@tensorflow/tfjs-backend-wasm');
  for (const name of ADDED_WASM_KERNELS) assert.equal(tf.getKernel(name, 'wasm'), undefined, name);
  for (const name of REPLACED_WASM_KERNELS) assert.ok(tf.getKernel(name, 'wasm'), name);
  const report = loadWasmBackend().kernels;
  assert.deepEqual(report.added, [...ADDED_WASM_KERNELS]);
  assert.deepEqual(report.replaced, [...REPLACED_WASM_KERNELS]);
  loaded = true;
});

test('Conv2DBackpropFilter matches cpu: strides 1/2, same/valid/explicit, batches and channels', async () => {
  for (const c of CONV_CASES) {
    const { x, filter, dy } = convShapes(c);
    await check(`filter grad ${JSON.stringify(c)}`, 'Conv2DBackpropFilter', { x: { shape: x }, dy: { shape: dy } }, {
      strides: c[7], pad: c[8], dataFormat: 'NHWC', filterShape: filter, ...(c[8] === 1 ? { dimRoundingMode: 'floor' } : {}),
    });
  }
});

test('Conv2DBackpropInput matches cpu: strides 1/2, same/valid/explicit, batches and channels', async () => {
  for (const c of CONV_CASES) {
    const { x, filter, dy } = convShapes(c);
    await check(`input grad ${JSON.stringify(c)}`, 'Conv2DBackpropInput', { dy: { shape: dy }, filter: { shape: filter } }, {
      strides: c[7], pad: c[8], dataFormat: 'NHWC', inputShape: x, ...(c[8] === 1 ? { dimRoundingMode: 'floor' } : {}),
    });
  }
});

test('depthwise backprops match cpu: channel multipliers 1 and 2, strides 1/2, same/valid', async () => {
  const cases: [number, number, number, number, number, number, number | [number, number], Pad][] = [
    [1, 5, 5, 1, 1, 3, 1, 'same'],
    [2, 7, 7, 3, 1, 3, 1, 'same'],
    [2, 7, 7, 3, 2, 3, 1, 'valid'],
    [3, 8, 6, 4, 1, 3, 2, 'same'],
    [2, 8, 6, 2, 2, 3, 2, 'valid'],
    [2, 9, 9, 5, 1, 5, 2, 'same'],
    [2, 7, 8, 3, 3, 2, [2, 1], 'same'],
    [1, 6, 6, 4, 1, 1, 1, 'valid'],
  ];
  for (const [n, h, w, c, m, k, strides, pad] of cases) {
    const info = tf.backend_util.computeConv2DInfo([n, h, w, c], [k, k, c, m], strides, 1, pad, undefined, true);
    const label = JSON.stringify([n, h, w, c, m, k, strides, pad]);
    await check(`depthwise input grad ${label}`, 'DepthwiseConv2dNativeBackpropInput',
      { dy: { shape: info.outShape }, filter: { shape: [k, k, c, m] } },
      { strides, pad, dilations: 1, inputShape: [n, h, w, c] });
    await check(`depthwise filter grad ${label}`, 'DepthwiseConv2dNativeBackpropFilter',
      { x: { shape: [n, h, w, c] }, dy: { shape: info.outShape } },
      { strides, pad, dilations: 1, filterShape: [k, k, c, m] });
  }
});

test('MaxPoolGrad matches cpu, ties and all-negative windows included', async () => {
  const cases: [number[], number, number | [number, number], 'same' | 'valid', number | undefined][] = [
    [[2, 8, 8, 3], 2, 2, 'valid', undefined],
    [[2, 8, 8, 3], 2, 2, 'valid', 3], // many ties
    [[2, 7, 7, 3], 2, 2, 'same', undefined],
    [[2, 7, 9, 4], 3, 2, 'same', 5],
    [[1, 9, 9, 2], 3, 1, 'valid', undefined],
    [[3, 6, 6, 1], 2, 1, 'same', 2],
    [[2, 10, 10, 6], 3, 3, 'valid', undefined],
    // windows that do not overlap and at least 4 channels: the WebAssembly SIMD path
    [[2, 8, 8, 4], 2, 2, 'valid', 3],
    [[2, 7, 7, 6], 2, 2, 'same', 3],
    [[2, 9, 9, 5], 3, 3, 'same', undefined],
    [[1, 8, 11, 8], 2, 3, 'valid', 2], // stride 3 > window 2: some inputs in no window
    [[3, 6, 6, 16], 2, 2, 'valid', undefined],
  ];
  for (const [shape, filterSize, strides, pad, ints] of cases) {
    for (const negate of [false, true]) {
      await wasmReady();
      const x: Input = { shape, ints, seed: 99 };
      if (negate) x.values = Float32Array.from(values(x, 0), (v) => -Math.abs(v) - 0.5);
      // The output input is the forward max pool of x (read back from cpu).
      await tf.setBackend('cpu');
      const xt = tf.tensor(values(x, 0), shape);
      const y = tf.maxPool(xt as tf.Tensor4D, filterSize, strides, pad);
      const spec = { dy: { shape: y.shape, seed: 5 }, input: { ...x, values: values(x, 0) }, output: { shape: y.shape, values: y.dataSync() } };
      xt.dispose();
      y.dispose();
      await check(`max pool grad ${JSON.stringify([shape, filterSize, strides, pad, ints, negate])}`, 'MaxPoolGrad', spec, { filterSize, strides, pad });
    }
  }
});

test('BatchMatMul matches cpu with every transpose, batch 1 and batched', async () => {
  const cases: [number[], number[]][] = [
    [[1, 5, 7], [1, 7, 3]],
    [[5, 7], [7, 3]],
    [[3, 4, 6], [3, 6, 5]],
    [[2, 3, 4, 6], [2, 3, 6, 5]],
    [[3, 4, 6], [1, 6, 5]],
    [[64, 40], [40, 12]],
  ];
  for (const [a, b] of cases) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const ta = transposeA ? [...a.slice(0, -2), a[a.length - 1], a[a.length - 2]] : a;
        const tb = transposeB ? [...b.slice(0, -2), b[b.length - 1], b[b.length - 2]] : b;
        await check(`matmul ${JSON.stringify([ta, tb, transposeA, transposeB])}`, 'BatchMatMul',
          { a: { shape: ta }, b: { shape: tb } }, { transposeA, transposeB });
      }
    }
  }
});

test('Tile matches cpu for float32, int32 and bool, ranks 1 to 5', async () => {
  const cases: [number[], number[], 'float32' | 'int32' | 'bool'][] = [
    [[3], [4], 'float32'],
    [[1, 1, 1, 5], [2, 3, 4, 1], 'float32'],
    [[2, 3], [3, 2], 'int32'],
    [[2, 1, 3], [1, 4, 2], 'bool'],
    [[2, 3, 1, 2], [2, 1, 3, 2], 'float32'],
    [[1, 2, 1, 2, 1], [3, 1, 2, 1, 4], 'int32'],
    [[4, 5], [1, 1], 'float32'],
    [[1, 1, 1, 16], [8, 16, 16, 1], 'float32'],
  ];
  for (const [shape, reps, dtype] of cases) {
    await check(`tile ${JSON.stringify([shape, reps, dtype])}`, 'Tile', { x: { shape, dtype } }, { reps }, 0);
  }
});

test('Transpose matches cpu: weight layouts, matrices, batches, size-1 axes, int32, and permutations left to the backend', async () => {
  const cases: [number[], number[], 'float32' | 'int32'][] = [
    [[13, 7, 3, 5], [2, 3, 1, 0], 'float32'], // PyTorch conv weight → TF.js
    [[3, 5, 7, 13], [3, 2, 0, 1], 'float32'], // and back
    [[37, 41], [1, 0], 'int32'],
    [[6, 11, 17], [0, 2, 1], 'float32'], // batched matrices
    [[4, 1, 9, 1, 10], [4, 3, 2, 1, 0], 'float32'], // size-1 axes
    [[5, 6, 7, 9], [1, 2, 0, 3], 'float32'], // no SIMD plan: the backend's own
    [[3, 4], [1, 0], 'float32'], // small: the backend's own
  ];
  for (const [shape, perm, dtype] of cases) {
    await check(`transpose ${JSON.stringify([shape, perm, dtype])}`, 'Transpose', { x: { shape, dtype } }, { perm }, 0);
  }
});

test('Slice matches cpu: contiguous and strided, ranks 1 to 5, size -1, int32 and bool', async () => {
  const cases: [number[], number[], number[], 'float32' | 'int32' | 'bool'][] = [
    [[10], [3], [4], 'float32'],
    [[24, 4, 4, 3], [8, 0, 0, 0], [8, 4, 4, 3], 'float32'],
    [[24, 4, 4, 3], [8, 0, 0, 0], [-1, -1, -1, -1], 'float32'],
    [[5, 6], [1, 2], [3, 3], 'int32'],
    [[4, 5, 6], [1, 1, 2], [2, 3, 4], 'float32'],
    [[4, 5, 6, 20], [0, 1, 0, 2], [4, 3, 6, 17], 'float32'],
    [[3, 4, 2, 5, 2], [1, 0, 1, 1, 0], [2, 4, 1, 3, 2], 'bool'],
    [[6, 7], [0, 0], [0, 7], 'float32'],
    [[3, 4, 5], [0, 0, 0], [-1, -1, -1], 'float32'], // the whole tensor: shared
  ];
  for (const [shape, begin, size, dtype] of cases) {
    await check(`slice ${JSON.stringify([shape, begin, size, dtype])}`, 'Slice', { x: { shape, dtype } }, { begin, size }, 0);
  }
});

test('Sum and Mean over leading axes match cpu; other reductions still work', async () => {
  const cases: [number[], number | number[], boolean, 'float32' | 'int32'][] = [
    [[4, 5, 6, 3], [0, 1, 2], false, 'float32'],
    [[4, 5, 6, 3], [0, 1, 2], true, 'float32'],
    [[4, 5, 6, 3], [-4, -3], false, 'float32'],
    [[9, 7], 0, false, 'float32'],
    [[7, 3, 2], [1, 0], true, 'float32'],
    [[32, 16, 16, 8], [0, 1, 2], false, 'float32'],
    [[4, 5, 6, 3], [1, 2], false, 'float32'],
    [[4, 5, 6, 3], [3], true, 'float32'],
    [[4, 5, 6], [0, 1, 2], false, 'float32'],
    [[4, 5, 6], [0, 1], false, 'int32'],
    [[1, 5], 0, false, 'float32'], // fewer values than one SIMD block: all in the tail
    [[11, 1], 0, true, 'float32'],
    [[64, 10, 10, 16], [0, 1, 2], false, 'float32'],
  ];
  for (const [shape, axis, keepDims, dtype] of cases) {
    for (const kernel of ['Sum', 'Mean']) {
      await check(`${kernel} ${JSON.stringify([shape, axis, keepDims, dtype])}`, kernel, { x: { shape, dtype } }, { axis, keepDims });
    }
  }
});

test('Add, Sub, Multiply and RealDiv with a broadcast vector match cpu, both operand orders', async () => {
  const cases: [number[], number[]][] = [
    [[2, 16, 16, 9], [9]],
    [[9], [2, 16, 16, 9]],
    [[4, 32, 32, 6], [1, 1, 1, 6]],
    [[1, 6], [64, 28, 28, 6]],
    [[3, 17, 5, 7], [5, 7]],
    [[131, 37], [37]], // prime row count: no regrouping
    [[2, 3, 4], [4]], // small: left to the backend
    [[8, 64, 64], [1]], // scalar-like: left to the backend
    [[8, 64, 64], [8, 64, 64]],
  ];
  for (const [a, b] of cases) {
    for (const kernel of ['Add', 'Sub', 'Multiply', 'RealDiv']) {
      const bSpec: Input = kernel === 'RealDiv' ? { shape: b, values: Float32Array.from(values({ shape: b }, 1), (v) => v + Math.sign(v || 1) * 0.5) } : { shape: b };
      await check(`${kernel} ${JSON.stringify([a, b])}`, kernel, { a: { shape: a }, b: bSpec }, {});
    }
  }
});

test('FusedBatchNorm matches cpu, with and without offset and scale, vector and [1, 1, 1, C] statistics', async () => {
  const positive = (shape: number[], seed: number): Input => ({ shape, values: Float32Array.from(values({ shape, seed }, 0), (v) => v + 1.5) });
  const cases: [number[], number[], boolean, boolean][] = [
    [[4, 16, 16, 8], [8], true, true],
    [[4, 16, 16, 8], [1, 1, 1, 8], true, true],
    [[4, 16, 16, 8], [8], false, true],
    [[4, 16, 16, 8], [8], true, false],
    [[2, 3, 3, 8], [8], true, true], // small: left to the backend
    [[64, 120], [120], true, true],
  ];
  for (const [shape, stat, withOffset, withScale] of cases) {
    const inputs: Record<string, Input> = { x: { shape }, mean: { shape: stat, seed: 11 }, variance: positive(stat, 12) };
    if (withOffset) inputs.offset = { shape: stat, seed: 13 };
    if (withScale) inputs.scale = { shape: stat, seed: 14 };
    await check(`batch norm ${JSON.stringify([shape, stat, withOffset, withScale])}`, 'FusedBatchNorm', inputs, { varianceEpsilon: 1e-3 });
  }
});

test('Identity shares memory safely: the copy outlives the original', async () => {
  await wasmReady();
  const x = tf.tensor([1, 2, 3, 4], [2, 2]);
  const y = tf.clone(x);
  x.dispose();
  assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3, 4]);
  const z = tf.add(y, 1);
  assert.deepEqual(Array.from(z.dataSync()), [2, 3, 4, 5]);
  const whole = tf.slice(z, [0, 0], [-1, -1]); // a slice of the whole tensor shares its memory too
  z.dispose();
  assert.deepEqual(Array.from(whole.dataSync()), [2, 3, 4, 5]);
  tf.dispose([y, whole]);
  await check('identity int32', 'Identity', { x: { shape: [3, 4], dtype: 'int32' } }, {}, 0);
});

test('UnsortedSegmentSum matches cpu (float32, int32, ids out of range dropped)', async () => {
  await check('segment sum float32', 'UnsortedSegmentSum',
    { x: { shape: [6, 4] }, segmentIds: { shape: [6], dtype: 'int32', values: [0, 2, 0, 4, 2, 1] } }, { numSegments: 5 });
  // int32 stays int32, as in TensorFlow (the cpu backend returns float32 values).
  await check('segment sum int32', 'UnsortedSegmentSum',
    { x: { shape: [5, 2, 3], dtype: 'int32' }, segmentIds: { shape: [5], dtype: 'int32', values: [3, 3, 0, 1, 0] } }, { numSegments: 4 }, 0, 'int32');
  await check('segment sum 1-D', 'UnsortedSegmentSum',
    { x: { shape: [7] }, segmentIds: { shape: [7], dtype: 'int32', values: [1, 1, 2, 0, 9, 2, 1] } }, { numSegments: 3 });
});

/** Gradients of every weight of a model for one batch, on a backend. */
async function gradsOn(backend: string, build: () => tf.LayersModel, x: Float32Array, xShape: number[], labels: number[], classes: number): Promise<Map<string, Float32Array>> {
  assert.ok(await tf.setBackend(backend));
  const model = build();
  // The same weights on both backends: from a seeded generator, in order.
  const r = rng(42);
  for (const w of model.weights) {
    const n = w.shape.reduce((p: number, d) => p * (d ?? 1), 1);
    const v = new Float32Array(n);
    const isGamma = w.name.includes('gamma') || w.name.includes('moving_variance');
    for (let i = 0; i < n; i++) v[i] = isGamma ? 0.5 + r() : (r() * 2 - 1) * 0.3;
    w.write(tf.tensor(v, w.shape as number[]));
  }
  const xs = tf.tensor(x, xShape);
  const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), classes);
  const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar);
  const out = new Map<string, Float32Array>();
  model.trainableWeights.forEach((w, i) => {
    const g = grads[(w.read() as tf.Variable).name];
    out.set(`${i}:${w.shape.join('x')}`, (g.dataSync() as Float32Array).slice());
  });
  Object.values(grads).forEach((g) => g.dispose());
  xs.dispose();
  ys.dispose();
  model.dispose();
  return out;
}

async function sameGrads(label: string, build: () => tf.LayersModel, xShape: number[], classes: number): Promise<void> {
  await wasmReady();
  const x = values({ shape: xShape }, 3) as Float32Array;
  const labels = Array.from({ length: xShape[0] }, (_, i) => (i * 7) % classes);
  const got = await gradsOn('wasm', build, x, xShape, labels, classes);
  const want = await gradsOn('cpu', build, x, xShape, labels, classes);
  assert.deepEqual([...got.keys()], [...want.keys()]);
  for (const [key, g] of got) {
    const w = want.get(key)!;
    close(`${label} ${key}`, { shape: [g.length], dtype: 'float32', data: g }, { shape: [w.length], dtype: 'float32', data: w }, 1e-4, true);
  }
}

test('a conv + BatchNorm + max pool + dense training step has the same gradients on wasm and cpu', async () => {
  await sameGrads('conv-bn', () => tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [10, 10, 2], filters: 4, kernelSize: 3, padding: 'same' }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 5, kernelSize: 3, strides: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 6, activation: 'relu' }),
      tf.layers.dense({ units: 3 }),
    ],
  }), [4, 10, 10, 2], 3);
});

test('depthwise, separable, strided and embedding layers train on wasm with cpu gradients', async () => {
  await sameGrads('separable', () => tf.sequential({
    layers: [
      tf.layers.depthwiseConv2d({ inputShape: [9, 9, 3], kernelSize: 3, depthMultiplier: 2, padding: 'same' }),
      tf.layers.separableConv2d({ kernelSize: 3, filters: 4, strides: 2, padding: 'same', activation: 'relu' }),
      tf.layers.averagePooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3 }),
    ],
  }), [3, 9, 9, 3], 3);
  await wasmReady();
  // Embedding: the gradient of gather is UnsortedSegmentSum.
  const run = async (backend: string): Promise<Float32Array> => {
    assert.ok(await tf.setBackend(backend));
    const table = tf.variable(tf.tensor(values({ shape: [7, 4] }, 8), [7, 4]));
    const ids = tf.tensor1d([1, 5, 1, 0, 6, 5], 'int32');
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(tf.gather(table, ids))) as tf.Scalar, [table]);
    const g = (grads[table.name].dataSync() as Float32Array).slice();
    tf.dispose([table, ids, ...Object.values(grads)]);
    return g;
  };
  const got = await run('wasm');
  const want = await run('cpu');
  close('embedding grad', { shape: [28], dtype: 'float32', data: got }, { shape: [28], dtype: 'float32', data: want });
});

test('a fused conv\'s input gradient, never read, is never computed; its inputs are released', async () => {
  const run = async (backend: string): Promise<{ filter: Float32Array; bias: Float32Array }> => {
    assert.ok(await tf.setBackend(backend));
    const x = tf.tensor(values({ shape: [3, 9, 9, 2] }, 1), [3, 9, 9, 2]) as tf.Tensor4D;
    const filter = tf.variable(tf.tensor(values({ shape: [3, 3, 2, 4] }, 2), [3, 3, 2, 4]));
    const bias = tf.variable(tf.tensor(values({ shape: [4] }, 3), [4]));
    // conv + bias + a separate loss: TF.js's fused conv, whose gradient returns dx with dW and db.
    const { grads } = tf.variableGrads(
      () => tf.sum(tf.square(tf.fused.conv2d({ x, filter: filter as tf.Tensor4D, bias, strides: 1, pad: 'same' }))) as tf.Scalar, [filter, bias]);
    const out = { filter: (grads[filter.name].dataSync() as Float32Array).slice(), bias: (grads[bias.name].dataSync() as Float32Array).slice() };
    tf.dispose([x, filter, bias, ...Object.values(grads)]);
    return out;
  };
  await wasmReady();
  await run('wasm'); // warm-up: hooks installed, kernels compiled
  // TF.js's fused conv gradient itself leaves a few tensors behind (on cpu too): count buffers
  // that no tensor holds, and the backend's buffers against the engine's count.
  const unheld = (): number => tf.memory().numDataBuffers - tf.memory().numTensors;
  const before = { ...lazyCounts, unheld: unheld(), buffers: tf.memory().numDataBuffers, ids: tf.backend().numDataIds() };
  const got = await run('wasm');
  assert.equal(lazyCounts.dropped - before.dropped, 1, 'the input gradient was dropped unused');
  assert.equal(lazyCounts.computed - before.computed, 1, 'the filter gradient was computed (read back)');
  assert.equal(unheld(), before.unheld, 'no buffer outlives the step (inputs kept for the lazy kernels were released)');
  assert.equal(tf.backend().numDataIds() - before.ids, tf.memory().numDataBuffers - before.buffers, 'the backend frees what the engine counts as freed');
  const want = await run('cpu');
  close('filter grad', { shape: [72], dtype: 'float32', data: got.filter }, { shape: [72], dtype: 'float32', data: want.filter });
  close('bias grad', { shape: [4], dtype: 'float32', data: got.bias }, { shape: [4], dtype: 'float32', data: want.bias });
});

test('a lazy gradient is computed when a kernel uses it, and from its inputs even after they were disposed', async () => {
  const [n, h, w, ci, co, kh, kw, strides, pad] = [2, 9, 9, 3, 4, 3, 3, 2, 'same'] as const;
  const filterShape = [kh, kw, ci, co];
  const dyShape = tf.backend_util.computeConv2DInfo([n, h, w, ci], filterShape as [number, number, number, number], strides, 1, pad).outShape;
  const run = async (backend: string): Promise<Float32Array[]> => {
    assert.ok(await tf.setBackend(backend));
    const dy = tf.tensor(values({ shape: dyShape }, 4), dyShape);
    const filter = tf.tensor(values({ shape: filterShape }, 5), filterShape);
    const x = tf.tensor(values({ shape: [n, h, w, ci] }, 6), [n, h, w, ci]);
    const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { inputShape: [n, h, w, ci], strides, pad, dataFormat: 'NHWC' }) as tf.Tensor;
    const dW = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { filterShape, strides, pad, dataFormat: 'NHWC' }) as tf.Tensor;
    tf.dispose([dy, filter, x]);
    const used = tf.tidy(() => tf.mul(dx, 2)); // dx used by a kernel first
    const out = [(used.dataSync() as Float32Array).slice(), (dW.dataSync() as Float32Array).slice()];
    tf.dispose([dx, dW, used]);
    return out;
  };
  await wasmReady();
  const buffers = tf.memory().numDataBuffers;
  const ids = tf.backend().numDataIds();
  const got = await run('wasm');
  assert.equal(tf.memory().numDataBuffers, buffers);
  assert.equal(tf.backend().numDataIds(), ids);
  const want = await run('cpu');
  close('2 * dx', { shape: [got[0].length], dtype: 'float32', data: got[0] }, { shape: [want[0].length], dtype: 'float32', data: want[0] });
  close('dW', { shape: [got[1].length], dtype: 'float32', data: got[1] }, { shape: [want[1].length], dtype: 'float32', data: want[1] });
  // Bad arguments still fail where the kernel is called, not where its output is first used.
  assert.ok(await tf.setBackend('wasm'));
  const dy = tf.zeros(dyShape);
  assert.throws(() => tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.zeros([n, h, w, ci + 1]), dy }, { filterShape, strides, pad: 'bogus', dataFormat: 'NHWC' }));
  dy.dispose();
});

type Chain = { depthwise: boolean; bias: boolean; norm: boolean; act: 'none' | 'relu' | 'relu6' | 'clip'; strides: number; pad: Pad };

/** conv (or depthwise conv) [+ bias] [→ BatchNorm] [→ activation] on seeded tensors, run `times` times on a backend. */
async function chainOn(backend: string, c: Chain, times: number): Promise<Float32Array[]> {
  assert.ok(await tf.setBackend(backend));
  const ci = 3, m = 2, co = c.depthwise ? ci * m : 5;
  const t = (shape: number[], seed: number, shift = 0): tf.Tensor => tf.tensor(Float32Array.from(values({ shape, seed }, 0), (v) => v + shift), shape);
  const x = t([2, 9, 8, ci], 1) as tf.Tensor4D;
  const filter = t(c.depthwise ? [3, 3, ci, m] : [3, 3, ci, co], 2) as tf.Tensor4D;
  const bias = c.bias ? t([co], 3) as tf.Tensor1D : undefined;
  const [mean, variance, offset, scale] = [t([co], 4), t([co], 5, 1.5), t([co], 6), t([co], 7)];
  const outs: Float32Array[] = [];
  for (let i = 0; i < times; i++) {
    const y = tf.tidy(() => {
      const args = { x, filter, bias, strides: c.strides, pad: c.pad as 'same' };
      let h: tf.Tensor = c.depthwise ? tf.fused.depthwiseConv2d(args) : (bias ? tf.fused.conv2d(args) : tf.conv2d(x, filter, c.strides, c.pad as 'same'));
      if (c.norm) h = tf.batchNorm(h, mean, variance, offset, scale, 1e-5);
      if (c.act === 'relu') h = tf.relu(h);
      if (c.act === 'relu6') h = tf.relu6(h);
      if (c.act === 'clip') h = tf.clipByValue(tf.relu(h), 0, 6);
      return h;
    });
    outs.push((y.dataSync() as Float32Array).slice());
    y.dispose();
  }
  tf.dispose([x, filter, mean, variance, offset, scale, ...(bias ? [bias] : [])]);
  return outs;
}

test('conv → BatchNorm → ReLU/ReLU6 chains are one convolution on wasm, with cpu results', async () => {
  const explicit: Pad = [[0, 0], [1, 1], [2, 2], [0, 0]];
  const cases: Chain[] = [
    { depthwise: false, bias: false, norm: true, act: 'relu', strides: 1, pad: explicit },
    { depthwise: false, bias: true, norm: true, act: 'relu6', strides: 2, pad: 'same' },
    { depthwise: false, bias: false, norm: true, act: 'none', strides: 2, pad: 'valid' },
    { depthwise: false, bias: true, norm: false, act: 'relu', strides: 1, pad: 'same' },
    { depthwise: true, bias: false, norm: true, act: 'clip', strides: 2, pad: explicit },
    { depthwise: true, bias: true, norm: true, act: 'relu', strides: 1, pad: 'valid' },
  ];
  await wasmReady();
  for (const c of cases) {
    const want = (await chainOn('cpu', c, 1))[0];
    const before = { ...lazyCounts };
    const folds = foldStats().folds;
    const got = await chainOn('wasm', c, 3);
    got.forEach((g, i) => close(`${JSON.stringify(c)} call ${i + 1}`, { shape: [g.length], dtype: 'float32', data: g }, { shape: [want.length], dtype: 'float32', data: want }));
    // One convolution computed per call; the steps it absorbed (BatchNorm, activation) were never computed.
    const steps = 1 + (c.norm ? 1 : 0) + (c.act === 'none' ? 0 : c.act === 'clip' ? 2 : 1);
    assert.equal(lazyCounts.computed - before.computed, 3, `${JSON.stringify(c)}: one computation a call`);
    assert.equal(lazyCounts.deferred - before.deferred, 3 * steps, JSON.stringify(c));
    assert.equal(foldStats().folds, folds, 'folded weights are freed with the filter and statistics they came from');
  }
});

test('3 × 3 stride-1 convolutions by Winograd F(2×2, 3×3) match cpu: odd sizes, padding 0 to 2, bias, BatchNorm, clamps; transformed filters freed with the filter', async () => {
  const cases: [number[], number, number, boolean, 'linear' | 'relu' | 'relu6'][] = [
    [[2, 9, 7, 16], 20, 1, true, 'relu'],
    [[1, 6, 5, 20], 16, 0, false, 'linear'],
    [[3, 5, 8, 16], 16, 2, true, 'relu6'],
    [[2, 2, 3, 16], 24, 1, false, 'relu'],
  ];
  const run = async (backend: string, [shape, co, pad, bias, activation]: (typeof cases)[number]): Promise<Float32Array> => {
    assert.ok(await tf.setBackend(backend));
    const ci = shape[3];
    const t = (sh: number[], seed: number, scale = 1, shift = 0): tf.Tensor => tf.tensor(Float32Array.from(values({ shape: sh, seed }, 0), (v) => v * scale + shift), sh);
    const x = t(shape, 1) as tf.Tensor4D;
    const filter = t([3, 3, ci, co], 2, 0.3) as tf.Tensor4D;
    const b = bias ? t([co], 3) as tf.Tensor1D : undefined;
    const [mean, variance, offset, scale] = [t([co], 4), t([co], 5, 1, 1.5), t([co], 6), t([co], 7)];
    const p: Pad = [[0, 0], [pad, pad], [pad, pad], [0, 0]];
    const y = tf.tidy(() => {
      const conv = tf.fused.conv2d({ x, filter, bias: b, strides: 1, pad: p as 'same', activation });
      // and once more with a BatchNorm folded in (the activation after it)
      const normed = tf.batchNorm(tf.conv2d(x, filter, 1, p as 'same'), mean, variance, offset, scale, 1e-5);
      return tf.concat([conv, activation === 'relu6' ? tf.relu6(normed) : activation === 'relu' ? tf.relu(normed) : normed], 3);
    });
    const out = (y.dataSync() as Float32Array).slice();
    tf.dispose([x, filter, y, mean, variance, offset, scale, ...(b ? [b] : [])]);
    return out;
  };
  await wasmReady();
  const ids = tf.backend().numDataIds();
  for (const c of cases) {
    const want = await run('cpu', c);
    for (const winograd of [true, false]) {
      setWinograd(winograd);
      const got = await run('wasm', c);
      close(`${JSON.stringify(c)} winograd ${winograd}`, { shape: [got.length], dtype: 'float32', data: got }, { shape: [want.length], dtype: 'float32', data: want });
    }
  }
  setWinograd(true);
  assert.ok(await tf.setBackend('wasm'));
  assert.equal(tf.backend().numDataIds(), ids, 'transformed filters and folded weights are freed with their filters');
});

test('a conv + BatchNorm + ReLU network predicts as on cpu, twice, and trains with cpu gradients (ReLU kept apart under the tape)', async () => {
  const build = (): tf.LayersModel => tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [10, 10, 3], filters: 6, kernelSize: 3, padding: 'same', useBias: false }),
      tf.layers.batchNormalization({ epsilon: 1e-5 }),
      tf.layers.reLU(),
      tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', useBias: false }),
      tf.layers.batchNormalization({ epsilon: 1e-5 }),
      tf.layers.reLU({ maxValue: 6 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3 }),
    ],
  });
  const predictOn = async (backend: string, times: number): Promise<Float32Array[]> => {
    assert.ok(await tf.setBackend(backend));
    const model = build();
    const r = rng(9);
    for (const w of model.weights) {
      const n = w.shape.reduce((p: number, d) => p * (d ?? 1), 1);
      const positive = /gamma|moving_variance/.test(w.name);
      tf.tidy(() => w.write(tf.tensor(Float32Array.from({ length: n }, () => (positive ? 0.5 + r() : r() - 0.5)), w.shape as number[])));
    }
    const x = tf.tensor(values({ shape: [4, 10, 10, 3] }, 2), [4, 10, 10, 3]);
    const outs: Float32Array[] = [];
    for (let i = 0; i < times; i++) {
      const y = model.predict(x) as tf.Tensor;
      outs.push((y.dataSync() as Float32Array).slice());
      y.dispose();
    }
    if (backend === 'wasm') assert.equal(foldStats().folds, 2, 'both BatchNorms folded into their convolutions');
    x.dispose();
    model.dispose();
    return outs;
  };
  await wasmReady();
  const buffers = tf.memory().numDataBuffers;
  const ids = tf.backend().numDataIds();
  const want = (await predictOn('cpu', 1))[0];
  const got = await predictOn('wasm', 3);
  got.forEach((g, i) => close(`predict ${i + 1}`, { shape: [g.length], dtype: 'float32', data: g }, { shape: [want.length], dtype: 'float32', data: want }));
  assert.ok(await tf.setBackend('wasm'));
  assert.equal(tf.memory().numDataBuffers, buffers, 'no tensor outlives the model');
  assert.equal(tf.backend().numDataIds(), ids, 'no folded weights outlive the model');
  // BatchNorm in inference mode under a tape (a frozen BatchNorm), convolutions trainable: nothing fused.
  const deferred = lazyCounts.deferred;
  await sameGrads('conv-bn-relu', () => {
    const m = build();
    m.layers.filter((l) => l.getClassName() === 'BatchNormalization').forEach((l) => { l.trainable = false; });
    return m;
  }, [4, 10, 10, 3], 3);
  assert.equal(foldStats().folds, 0);
  assert.ok(lazyCounts.deferred - deferred <= 4, 'under the tape only gradients are deferred, not the forward convolutions');
});

/** A conv net's gradients on seeded data, as a function body of (tf, rng): run here and in a child process. */
const CONV_GRADS = `
  const fill = (shape, seed) => { const r = rng(seed); return tf.tensor(Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => r() * 2 - 1), shape); };
  const x = fill([4, 12, 12, 3], 1);
  const vars = [fill([3, 3, 3, 8], 2), fill([8], 3), fill([3, 3, 8, 6], 4), fill([6 * 6 * 6, 5], 5)].map((t) => tf.variable(t));
  const [w1, b1, w2, w3] = vars;
  const { grads } = tf.variableGrads(() => {
    const h1 = tf.relu(tf.fused.conv2d({ x, filter: w1, bias: b1, strides: 1, pad: 'same' }));
    const h2 = tf.relu(tf.conv2d(tf.maxPool(h1, 2, 2, 'valid'), w2, 1, 'same'));
    return tf.sum(tf.square(tf.matMul(tf.reshape(h2, [4, -1]), w3)));
  }, vars);
  const out = vars.map((v) => Array.from(grads[v.name].dataSync()));
  tf.dispose([x, ...vars, ...Object.values(grads)]);
  return out;
`;

test('TSFREEZE_WASM_THREADS=2 starts the threaded build: same gradients, and the process still exits by itself', async () => {
  await wasmReady();
  const want = new Function('tf', 'rng', CONV_GRADS)(tf, rng) as number[][];
  const lib = path.resolve(__dirname, '../../lib');
  const child = `
    const tf = require('@tensorflow/tfjs');
    const { setBackend } = require(${JSON.stringify(path.join(lib, 'backend/select.ts'))});
    const { mulberry32: rng } = require(${JSON.stringify(path.join(lib, 'train/data.ts'))});
    tf.env().set('PROD', true);
    setBackend('wasm').then((info) => {
      const grads = new Function('tf', 'rng', ${JSON.stringify(CONV_GRADS)})(tf, rng);
      process.stdout.write(JSON.stringify({ threads: info.threads, reason: info.reason, grads }));
    });
  `;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', child], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, TSFREEZE_WASM_THREADS: '2' },
  });
  assert.equal(run.signal, null, `the child did not exit by itself within 60 s (workers keeping it alive?): ${run.stderr}`);
  assert.equal(run.status, 0, run.stderr);
  assert.doesNotMatch(run.stderr, /did not start/, 'the threaded build fell back to one thread');
  const got = JSON.parse(run.stdout) as { threads: number; reason: string; grads: number[][] };
  assert.equal(got.threads, 2, got.reason);
  assert.match(got.reason, /2 threads/);
  want.forEach((w, i) => close(`grad ${i}`, { shape: [got.grads[i].length], dtype: 'float32', data: Float32Array.from(got.grads[i]) },
    { shape: [w.length], dtype: 'float32', data: Float32Array.from(w) }, 1e-5, true));
});

test('registering is idempotent; unregistering restores the backend\'s own kernels', async () => {
  await wasmReady();
  const again = registerWasmTrainingKernels();
  assert.deepEqual(again.added, [...ADDED_WASM_KERNELS]);
  unregisterWasmTrainingKernels();
  for (const name of ADDED_WASM_KERNELS) assert.equal(tf.getKernel(name, 'wasm'), undefined);
  const sum = tf.sum(tf.ones([4, 3]), 0);
  assert.deepEqual(Array.from(sum.dataSync()), [4, 4, 4]);
  sum.dispose();
  const only = registerWasmTrainingKernels({ replaceSlow: false });
  assert.deepEqual(only.replaced, []);
  unregisterWasmTrainingKernels();
  registerWasmTrainingKernels();
  assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'));
});
