/** Frozen-weight guard: a frozen weight or BatchNorm statistic that moves is an error naming it and how far it moved. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { checkFrozen, compareFrozen, fingerprint, freeze, FrozenWeightError, stateDictOf } from '../../lib';
import { loadWasmBackend } from '../../lib/backend/wasm/load';
import { trainableSlots } from '../../lib/freeze/registry';
import { layersByKey } from '../../lib/freeze/freeze';
import { unfreezeBatchNorm } from '../../lib/freeze/batchnorm';
import { seqNet } from '../helpers/models';

/** A few SGD steps in training mode on the weights the training loop may update. */
function train(model: tf.LayersModel, steps: number): void {
  const opt = tf.train.sgd(0.05);
  for (let i = 0; i < steps; i++) {
    const x = tf.randomNormal([4, 8, 8, 1], 2, 3, 'float32', 20 + i);
    const y = tf.randomNormal([4, 2], 0, 1, 'float32', 40 + i);
    opt.minimize(() => tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, false, trainableSlots(model).map((s) => s.variable));
    x.dispose();
    y.dispose();
  }
}

/** The message and changes of the FrozenWeightError that `f` throws. */
function caught(f: () => void): FrozenWeightError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof FrozenWeightError, String(e));
    return e;
  }
  assert.fail('expected a FrozenWeightError');
}

test('fires when a frozen weight is changed behind the training loop\'s back, naming the key and the largest change', async () => {
  await tf.setBackend('cpu');
  const m = seqNet();
  freeze(m, ['0', '1']);
  const fp = fingerprint(m);
  assert.deepEqual([...fp.entries.keys()], ['0.kernel', '0.bias', '1.gamma', '1.beta', '1.moving_mean', '1.moving_variance']);
  checkFrozen(m, fp);
  const bias = m.layers[0].weights.find((w) => w.originalName.endsWith('bias'))!;
  const v = (bias as unknown as { val: tf.Variable }).val;
  v.assign(tf.add(v, tf.tensor1d([0, 0.25, 0, -0.5])));
  const e = caught(() => checkFrozen(m, fp));
  assert.equal(e.name, 'FrozenWeightError');
  assert.match(e.message, /^1 frozen weight changed: 0\.bias \(max \|change\| 0\.500, 2 elements\)$/);
  assert.deepEqual(e.changes, [{ key: '0.bias', maxAbsChange: 0.5, changedElements: 2, changed: true }]);
  const all = compareFrozen(m, fp);
  assert.equal(all.length, 6);
  assert.deepEqual(all.filter((c) => !c.changed).map((c) => c.maxAbsChange), [0, 0, 0, 0, 0]);
});

test('stays quiet on a correct run: optimizer steps on trainableSlots only, frozen BatchNorm called in training mode', async () => {
  await tf.setBackend('cpu');
  const m = seqNet();
  freeze(m, ['0', '1']);
  const fp = fingerprint(m);
  const head = fingerprint(m, 'head.**');
  train(m, 3);
  checkFrozen(m, fp);
  assert.ok(compareFrozen(m, head).some((c) => c.key === 'head.fc.kernel' && c.changed), 'the trainable head did move');
});

test('catches the BatchNorm drift of seed 001: bnStats "train" with the statistics fingerprinted', async () => {
  await tf.setBackend('cpu');
  const m = seqNet();
  freeze(m, ['0', '1'], { bnStats: 'train' });
  const fp = fingerprint(m, '**.moving_*');
  assert.ok(fp.entries.has('1.moving_mean') && fp.entries.has('1.moving_variance'));
  train(m, 2);
  const e = caught(() => checkFrozen(m, fp));
  assert.deepEqual(e.changes.map((c) => c.key), ['1.moving_mean', '1.moving_variance']);
  assert.ok(e.changes.every((c) => c.maxAbsChange > 0 && c.changedElements === 4));
  assert.match(e.message, /^2 frozen weights changed: 1\.moving_mean \(max \|change\| [0-9.e-]+, 4 elements\), 1\.moving_variance .*BatchNorm statistics moved/);
});

test('catches the drift when the BatchNorm fix is undone after freezing', async () => {
  await tf.setBackend('cpu');
  const m = seqNet();
  freeze(m, ['0', '1']);
  const fp = fingerprint(m);
  assert.ok(unfreezeBatchNorm(layersByKey(m).get('1')!));
  train(m, 2);
  const e = caught(() => checkFrozen(m, fp));
  assert.deepEqual(e.changes.map((c) => c.key), ['1.moving_mean', '1.moving_variance']);
});

test('a fingerprinted weight that is gone or reshaped counts as changed; NaN is reported', async () => {
  await tf.setBackend('cpu');
  const w = tf.variable(tf.tensor1d([1, 2, 3]));
  const model = { enc: { w }, dec: { w: tf.variable(tf.zeros([2])) } };
  freeze(model, 'enc.*');
  assert.equal(w.trainable, false);
  const fp = fingerprint(model);
  w.assign(tf.tensor1d([1, NaN, 3]));
  assert.deepEqual(compareFrozen(model, fp), [{ key: 'enc.w', maxAbsChange: NaN, changedElements: 1, changed: true }]);
  const other = { dec: model.dec };
  assert.match(caught(() => checkFrozen(other, fp)).message, /enc\.w \(max \|change\| weight missing or reshaped, 3 elements\)/);
});

test('lastFingerprint: the fingerprint train()\'s guard took is kept per model (what %checkfrozen compares with)', async () => {
  const { lastFingerprint, train: trainLoop } = await import('../../lib');
  const model = seqNet();
  assert.equal(lastFingerprint(model), undefined, 'none before any fingerprint');
  freeze(model, '0.*');
  const mine = fingerprint(model);
  assert.equal(lastFingerprint(model), mine);
  const x = tf.randomNormal([8, 8, 8, 1], 0, 1, 'float32', 3), y = tf.randomNormal([8, 2], 0, 1, 'float32', 4);
  await trainLoop(model, { x, y }, { loss: 'meanSquaredError', epochs: 1, batchSize: 4, lr: 0.01, progress: false });
  const taken = lastFingerprint(model)!;
  assert.notEqual(taken, mine, 'train() took its own');
  assert.deepEqual([...taken.entries.keys()].sort(), [...mine.entries.keys()].sort());
  assert.equal(lastFingerprint(seqNet()), undefined, 'per model');
  tf.dispose([x, y]);
});

let wasmLoaded = false;
/** Switches to `name`, loading tsfreeze's wasm backend the first time. */
async function use(name: 'cpu' | 'wasm'): Promise<void> {
  if (name === 'wasm' && !wasmLoaded) {
    loadWasmBackend();
    wasmLoaded = true;
  }
  assert.ok(await tf.setBackend(name), `could not set the ${name} backend`);
}

/** A float32 tensor with exactly these bits (NaN payloads and the sign of zero kept). */
const fromBits = (bits: number[]): tf.Tensor1D => tf.tensor1d(new Float32Array(Int32Array.from(bits).buffer));

const NAN = 0x7fc00000;
const OTHER_NAN = 0x7fc00001;
const MINUS_ZERO = 0x80000000 | 0;
const ONE = 0x3f800000;

for (const backend of ['cpu', 'wasm'] as const) {
  test(`${backend}: compares bits: the same NaN is no change, another NaN or -0 for 0 is; new storage with the same bits is quiet`, async () => {
    await use(backend);
    const w = tf.variable(fromBits([NAN, 0, ONE]));
    const model = { enc: { w } };
    freeze(model, 'enc.*');
    const fp = fingerprint(model);
    w.assign(fromBits([NAN, 0, ONE]));
    checkFrozen(model, fp);
    w.assign(fromBits([NAN, MINUS_ZERO, ONE]));
    const e = caught(() => checkFrozen(model, fp));
    assert.deepEqual(e.changes, [{ key: 'enc.w', maxAbsChange: 0, changedElements: 1, changed: true }]);
    assert.match(e.message, /^1 frozen weight changed: enc\.w \(max \|change\| 0, a zero changed sign, 1 elements\)$/);
    w.assign(fromBits([OTHER_NAN, 0, ONE]));
    assert.deepEqual(compareFrozen(model, fp), [{ key: 'enc.w', maxAbsChange: NaN, changedElements: 1, changed: true }]);
    // A fingerprint built by hand from a state dict (as %checkfrozen --against does) is compared in full.
    const snapshot = { entries: new Map([...stateDictOf(model)].map(([k, t]) => [k, { shape: t.shape, values: t.data as Float32Array }])) };
    checkFrozen(model, snapshot);
    w.assign(fromBits([OTHER_NAN, 0, 0x3f800001]));
    assert.deepEqual(caught(() => checkFrozen(model, snapshot)).changes.map((c) => [c.key, c.changedElements]), [['enc.w', 1]]);
    w.dispose();
  });

  test(`${backend}: setWeights with the same values is quiet, with changed ones caught at the next check; train() every step stays quiet, then stops at a tampered step`, async () => {
    await use(backend);
    const m = seqNet();
    freeze(m, ['0', '1']);
    const fp = fingerprint(m);
    const conv = m.layers[0];
    // getWeights() hands out the variables themselves: keep copies of their values.
    const [kernel, bias] = conv.getWeights().map((t) => t.clone());
    conv.setWeights([kernel, bias.clone()]);
    checkFrozen(m, fp);
    checkFrozen(m, fp);
    conv.setWeights([kernel, tf.add(bias, tf.tensor1d([0, 0.25, 0, -0.5]))]);
    const e = caught(() => checkFrozen(m, fp));
    assert.deepEqual(e.changes, [{ key: '0.bias', maxAbsChange: 0.5, changedElements: 2, changed: true }]);
    conv.setWeights([kernel, bias]);
    checkFrozen(m, fp);

    const { train: trainLoop } = await import('../../lib');
    const x = tf.randomNormal([16, 8, 8, 1], 0, 1, 'float32', 5), y = tf.randomNormal([16, 2], 0, 1, 'float32', 6);
    const opts = { loss: 'meanSquaredError' as const, epochs: 1, batchSize: 4, lr: 0.05, progress: false as const, guard: { every: 'step' as const } };
    await trainLoop(m, { x, y }, opts);
    const gamma = (m.layers[1].weights.find((w) => w.originalName.endsWith('gamma')) as unknown as { val: tf.Variable }).val;
    let steps = 0;
    await assert.rejects(trainLoop(m, { x, y }, {
      ...opts,
      onStep: () => {
        if (++steps === 2) gamma.assign(tf.mul(gamma, 2));
      },
    }), (err: unknown) => err instanceof FrozenWeightError && /^1 frozen weight changed: 1\.gamma \(max \|change\| 1\.00, 4 elements\)$/.test(err.message));
    assert.equal(steps, 2, 'stopped at the step that changed it');
    tf.dispose([x, y]);
  });
}

test('a write into the storage behind TF.js\'s back: cpu catches it at once; wasm with { full: true } and, soon, by itself', async () => {
  await use('cpu');
  const a = seqNet();
  freeze(a, ['0', '1']);
  const fpa = fingerprint(a);
  const varOf = (m: tf.LayersModel, short: string) => (m.layers[0].weights.find((w) => w.originalName.endsWith(short)) as unknown as { val: tf.Variable }).val;
  // On the cpu backend dataSync() hands out the variable's own array.
  (varOf(a, 'bias').dataSync() as Float32Array)[3] = 0.125;
  assert.deepEqual(caught(() => checkFrozen(a, fpa)).changes, [{ key: '0.bias', maxAbsChange: 0.125, changedElements: 1, changed: true }]);

  await use('wasm');
  const b = seqNet();
  freeze(b, ['0', '1']);
  const fpb = fingerprint(b);
  checkFrozen(b, fpb, { full: true });
  const kernel = varOf(b, 'kernel');
  const heap = (tf.backend() as unknown as { typedArrayFromHeap(t: tf.TensorInfo): Float32Array }).typedArrayFromHeap(kernel);
  const before = heap[5];
  heap[5] = 4;
  const changed = { key: '0.kernel', maxAbsChange: 4 - before, changedElements: 1, changed: true };
  assert.deepEqual(caught(() => checkFrozen(b, fpb, { full: true })).changes, [changed]);
  // The periodic full comparison: due at the latest 100 times its own duration after the last one.
  const until = performance.now() + 5000;
  let found: FrozenWeightError | undefined;
  while (!found && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 10));
    try {
      checkFrozen(b, fpb);
    } catch (err) {
      assert.ok(err instanceof FrozenWeightError, String(err));
      found = err;
    }
  }
  assert.ok(found, 'the periodic full comparison did not find the write within 5 s');
  assert.deepEqual(found.changes, [changed]);
});
