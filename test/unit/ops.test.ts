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
