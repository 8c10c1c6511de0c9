/** Host tensor operations of the layout adapter, and copies that must not alias the model. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { permute, stridesOf, hwcToChw, inverse } from '../../lib/statedict/ops';
import { stateDictOf } from '../../lib';
import type { HostTensor } from '../../lib/statedict/tensor';

/** permute by the definition: out[i0..] = in[i_perm^-1 ...], one element at a time. */
function naive(t: HostTensor, perm: number[]): number[] {
  const outShape = perm.map((p) => t.shape[p]);
  const n = outShape.reduce((a, b) => a * b, 1);
  const st = stridesOf(t.shape);
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    let rest = k, at = 0;
    for (let d = outShape.length - 1; d >= 0; d--) { const i = rest % outShape[d]; rest = Math.floor(rest / outShape[d]); at += i * st[perm[d]]; }
    out.push((t.data as Float32Array)[at]);
  }
  return out;
}

test('permute equals the element-by-element definition over varied shapes and permutations', () => {
  const cases: Array<[number[], number[]]> = [[[3, 4], [1, 0]], [[2, 3, 4, 5], [3, 2, 0, 1]], [[5, 5, 1, 6], [3, 2, 0, 1]], [[2, 1, 3], [2, 0, 1]], [[7], [0]], [[], []], [[0, 3], [1, 0]], [[4, 1, 2, 3], [2, 3, 1, 0]]];
  for (const [shape, perm] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    const t: HostTensor = { dtype: 'float32', shape, data: Float32Array.from({ length: n }, (_, i) => i * 1.5 - 3) };
    const p = permute(t, perm);
    assert.deepEqual(p.shape, perm.map((i) => shape[i]));
    assert.deepEqual(Array.from(p.data as Float32Array), naive(t, perm), `shape [${shape}] perm [${perm}]`);
    assert.deepEqual(Array.from(permute(p, inverse(perm)).data as Float32Array), Array.from(t.data as Float32Array));
  }
});

test('hwcToChw maps every H,W,C position to its C,H,W index exactly once', () => {
  const m = hwcToChw(2, 3, 4);
  assert.deepEqual([...m].sort((a, b) => a - b), Array.from({ length: 24 }, (_, i) => i));
  assert.equal(m[(1 * 3 + 2) * 4 + 3], 3 * 6 + 1 * 3 + 2);
});

test('stateDictOf returns copies: writing into them leaves the model unchanged', async () => {
  await tf.setBackend('cpu');
  const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 2 })] });
  const before = Array.from(m.getWeights()[0].dataSync());
  (stateDictOf(m).get('0.kernel')!.data as Float32Array).fill(42);
  assert.deepEqual(Array.from(m.getWeights()[0].dataSync()), before);
});

test('permute of 32-bit values takes the SIMD path for every weight layout, bit for bit, edges and batches included', async () => {
  const { oitPlan } = await import('../../lib/statedict/permute-fast');
  // Weight layouts (conv both ways, dense, depthwise both ways) and batched transposes; odd sizes exercise the edges.
  const cases: Array<[number[], number[]]> = [
    [[13, 7, 3, 5], [2, 3, 1, 0]], [[3, 5, 7, 13], [3, 2, 0, 1]], [[37, 41], [1, 0]], [[9, 2, 7, 9], [2, 3, 0, 1]],
    [[5, 6, 7, 9], [0, 1, 3, 2]], [[6, 11, 17], [0, 2, 1]], [[64, 3, 7, 7], [2, 3, 1, 0]], [[4, 4, 4, 4, 4], [0, 4, 2, 3, 1]],
  ];
  for (const [shape, perm] of cases) {
    assert.ok(oitPlan(shape, perm), `[${shape}] by [${perm}] has a fast path`);
    const n = shape.reduce((a, b) => a * b, 1);
    assert.ok(n >= 1024, 'large enough for the fast path');
    // Every bit pattern survives, NaN payloads included: compare as integers.
    const bits = Uint32Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 0);
    const t: HostTensor = { dtype: 'float32', shape, data: new Float32Array(bits.buffer) };
    const p = permute(t, perm);
    // Where each output value comes from, by the definition (indices are exact as floats).
    const from = naive({ dtype: 'float32', shape, data: Float32Array.from({ length: n }, (_, i) => i) }, perm);
    assert.deepEqual(Array.from(new Uint32Array((p.data as Float32Array).buffer)), from.map((i) => bits[i]), `shape [${shape}] perm [${perm}]`);
    const i32: HostTensor = { dtype: 'int32', shape, data: Int32Array.from({ length: n }, (_, i) => i - 500) };
    assert.deepEqual(Array.from(permute(i32, perm).data as Int32Array), from.map((i) => i - 500));
  }
  assert.equal(oitPlan([2, 3, 4, 5], [1, 3, 0, 2]), null, 'other permutations take the general loop');
});

test('permutedTensor gives permute\'s values exactly on wasm (transposed there) and on cpu, and never shares the source\'s memory', async () => {
  const { permutedTensor } = await import('../../lib/backend/permuted-tensor');
  const { loadWasmBackend } = await import('../../lib/backend/wasm/load');
  loadWasmBackend();
  const cases: Array<[number[], number[], 'float32' | 'float16' | 'int32']> = [
    [[13, 7, 3, 5], [2, 3, 1, 0], 'float32'], [[37, 41], [1, 0], 'int32'], [[5, 6, 7, 9], [1, 2, 0, 3], 'float32'], [[6, 2, 3, 3], [2, 3, 0, 1], 'float16'],
  ];
  for (const backend of ['wasm', 'cpu']) {
    assert.ok(await tf.setBackend(backend));
    for (const [shape, perm, dtype] of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = dtype === 'int32' ? Int32Array.from({ length: n }, (_, i) => i * 7 - 100)
        : dtype === 'float16' ? Uint16Array.from({ length: n }, (_, i) => 0x3c00 + i) : Float32Array.from({ length: n }, (_, i) => Math.sin(i));
      const t: HostTensor = { dtype, shape, data };
      const want = permute(t, perm);
      const got = permutedTensor(t, perm, dtype === 'int32' ? 'int32' : 'float32');
      assert.deepEqual(got.shape, want.shape);
      const wantValues = dtype === 'float16' ? Array.from(want.data as Uint16Array, (h) => 1 + (h - 0x3c00) / 1024) : Array.from(want.data as Float32Array);
      assert.deepEqual(Array.from(got.dataSync()), wantValues, `${backend} [${shape}] by [${perm}]`);
      if (dtype === 'float32') {
        (data as Float32Array).fill(0);
        assert.deepEqual(Array.from(got.dataSync()), wantValues, `${backend}: the tensor kept its own copy`);
      }
      got.dispose();
    }
  }
});
