/** Seeds 001 and 004: freeze what was loaded, BatchNorm statistics that must not drift, detach. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { detach, formatSummary, freeze, stateDictOf, trainableSummary, unfreeze, weightSlots } from '../../lib';
import { frozenKeys, frozenSlots, trainableSlots } from '../../lib/freeze/registry';
import { layersByKey } from '../../lib/freeze/freeze';
import { isBatchNormFrozen } from '../../lib/freeze/batchnorm';
import { seqNet } from '../helpers/models';

/** Dense → BatchNorm → Dense, keys 0.*, 1.*, 2.*. */
function bnNet(): tf.Sequential {
  return tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3] }), tf.layers.batchNormalization(), tf.layers.dense({ units: 2 })] });
}

/** Inputs far from zero mean and unit variance, so batch statistics differ clearly from the moving ones. */
function batch(seed: number): { x: tf.Tensor; y: tf.Tensor } {
  return { x: tf.randomNormal([16, 3], 3, 2, 'float32', seed), y: tf.randomNormal([16, 2], 0, 1, 'float32', seed + 1) };
}

/** Manual SGD steps in training mode on the weights the training loop may update. */
function train(model: tf.LayersModel, steps: number): void {
  const opt = tf.train.sgd(0.05);
  for (let i = 0; i < steps; i++) {
    const { x, y } = batch(10 + i);
    const vars = trainableSlots(model).map((s) => s.variable);
    opt.minimize(() => tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, false, vars);
    x.dispose();
    y.dispose();
  }
}

function values(model: tf.LayersModel, key: string): number[] {
  return Array.from(stateDictOf(model).get(key)!.data as Float32Array);
}

test('TF.js 4.22 fact: a BatchNormalization with trainable=false still updates its moving statistics when called with training=true', async () => {
  await tf.setBackend('cpu');
  const bn = tf.layers.batchNormalization({ trainable: false });
  const { x } = batch(1);
  bn.apply(x);
  const mean = () => Array.from(bn.getWeights()[2].dataSync());
  const before = mean();
  tf.tidy(() => bn.apply(x, { training: true }) as tf.Tensor);
  assert.equal(bn.trainable, false);
  assert.notDeepEqual(mean(), before);
});

test("TF.js 4.22 fact: Sequential.compile() rebuilds and resets every weight's trainable flag (the layer's own flag survives)", async () => {
  await tf.setBackend('cpu');
  const m = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] }), tf.layers.dense({ units: 1 })] });
  m.layers[0].trainable = false;
  (m.layers[1].weights[0] as unknown as { trainable: boolean }).trainable = false;
  m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  assert.equal(m.layers[0].trainable, false);
  assert.deepEqual(m.layers[0].weights.map((w) => w.trainable), [true, true]);
  assert.deepEqual(m.layers[1].weights.map((w) => w.trainable), [true, true]);
});

test('freeze by glob records keys, sets TF.js flags, and a frozen BatchNorm layer freezes its statistics', async () => {
  await tf.setBackend('cpu');
  const m = bnNet();
  const r = freeze(m, ['0', '1']);
  assert.deepEqual(r.keys, ['0.kernel', '0.bias', '1.gamma', '1.beta', '1.moving_mean', '1.moving_variance']);
  assert.deepEqual(r.batchNorm, ['1']);
  assert.deepEqual(trainableSlots(m).map((s) => s.key), ['2.kernel', '2.bias']);
  assert.deepEqual(frozenSlots(m).map((s) => s.key).sort(), [...r.keys].sort());
  assert.equal(m.layers[0].trainable, false);
  assert.equal(m.layers[1].trainable, false);
  assert.equal(m.layers[2].trainable, true);
  assert.deepEqual(m.trainableWeights.map((w) => w.originalName.split('/').pop()), ['kernel', 'bias']);
  const again = freeze(m, '0.*');
  assert.deepEqual(again.keys, []);
  assert.deepEqual(again.unchanged, ['0.kernel', '0.bias']);
});

test('freeze with a StateDict freezes exactly what was loaded (PyTorch names accepted)', async () => {
  await tf.setBackend('cpu');
  const m = seqNet();
  const loaded = stateDictOf(m, { layout: 'torch' });
  for (const k of [...loaded.keys()]) if (!k.startsWith('0.') && !k.startsWith('1.')) loaded.delete(k);
  const r = freeze(m, loaded);
  assert.deepEqual(r.keys, ['0.kernel', '0.bias', '1.gamma', '1.beta', '1.moving_mean', '1.moving_variance']);
  assert.ok(isBatchNormFrozen(layersByKey(m).get('1')!));
});

test('a selector that matches nothing is an error naming the selector and some model keys', async () => {
  await tf.setBackend('cpu');
  const m = bnNet();
  assert.throws(() => freeze(m, 'module.*'), /freeze: selector 'module\.\*' matches no weight of the model; its keys are 0\.kernel, 0\.bias, 1\.gamma/);
  assert.throws(() => unfreeze(m, /^conv/), /unfreeze: selector \/\^conv\/ matches no weight/);
  assert.throws(() => freeze(m, ['a', 'b', 'c', 'd']), /a list of 4 keys \[a, b, c, …\]/);
  assert.throws(() => freeze(m, '0', { bnStats: 'yes' as 'train' }), /bnStats must be 'freeze' or 'train'/);
  assert.equal(frozenKeys(m).size, 0);
});

test('seed 001: without the fix a frozen BatchNorm drifts in training mode (bnStats "train"); with it, its statistics and output stay put', async () => {
  await tf.setBackend('cpu');
  const drift = bnNet();
  freeze(drift, ['0', '1'], { bnStats: 'train' });
  assert.ok(!frozenKeys(drift).has('1.moving_mean'));
  const before = values(drift, '1.moving_mean');
  train(drift, 3);
  assert.notDeepEqual(values(drift, '1.moving_mean'), before, 'TF.js updates the statistics of a trainable=false BatchNorm');
  assert.deepEqual(values(drift, '1.gamma'), [1, 1, 1, 1]);

  const fixed = bnNet();
  freeze(fixed, ['0', '1']);
  const sd = stateDictOf(fixed);
  train(fixed, 3);
  const after = stateDictOf(fixed);
  for (const k of ['0.kernel', '0.bias', '1.gamma', '1.beta', '1.moving_mean', '1.moving_variance']) assert.deepEqual(after.get(k)!.data, sd.get(k)!.data, k);
  assert.notDeepEqual(after.get('2.kernel')!.data, sd.get('2.kernel')!.data, 'the head trains');
  // Training mode normalises with the moving statistics: the same output as inference.
  const { x } = batch(99);
  const a = (fixed.apply(x, { training: true }) as tf.Tensor).dataSync();
  const b = (fixed.predict(x) as tf.Tensor).dataSync();
  assert.deepEqual(Array.from(a), Array.from(b));
});

test('unfreeze restores trainability, TF.js flags and the BatchNorm layer\'s own call', async () => {
  await tf.setBackend('cpu');
  const m = bnNet();
  const bn = layersByKey(m).get('1')!;
  const protoCall = Object.getPrototypeOf(bn).call;
  freeze(m, '**');
  assert.notEqual((bn as unknown as { call: unknown }).call, protoCall);
  assert.equal(trainableSlots(m).length, 0);
  const r = unfreeze(m, '1.gamma');
  assert.deepEqual(r.keys, ['1.gamma', '1.moving_mean', '1.moving_variance']);
  assert.deepEqual(r.batchNorm, ['1']);
  assert.equal((bn as unknown as { call: unknown }).call, protoCall);
  assert.ok(!Object.prototype.hasOwnProperty.call(bn, 'call'));
  assert.deepEqual(trainableSlots(m).map((s) => s.key), ['1.gamma']);
  assert.equal(bn.trainable, true);
  assert.deepEqual(Object.fromEntries(bn.weights.map((w) => [w.originalName.split('/').pop(), w.trainable])), { gamma: true, beta: false, moving_mean: false, moving_variance: false });
  unfreeze(m, '**');
  assert.equal(frozenKeys(m).size, 0);
  assert.ok(m.layers.every((l) => l.trainable));
});

test('model.fit honours a partial freeze made before compile() (per-weight flags survive the Sequential rebuild), nested models too', async () => {
  await tf.setBackend('cpu');
  const m = seqNet();
  freeze(m, ['4.kernel', 'head.fc.bias', '0', '1']);
  m.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  const before = stateDictOf(m);
  const x = tf.randomNormal([8, 8, 8, 1], 1, 1, 'float32', 3);
  const y = tf.randomNormal([8, 2], 0, 1, 'float32', 4);
  await m.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0 });
  const after = stateDictOf(m);
  for (const k of frozenKeys(m)) assert.deepEqual(after.get(k)!.data, before.get(k)!.data, `${k} is frozen`);
  for (const k of ['4.bias', 'head.fc.kernel']) assert.notDeepEqual(after.get(k)!.data, before.get(k)!.data, `${k} trains`);
});

test('model.fit honours a freeze made after compile()', async () => {
  await tf.setBackend('cpu');
  const m = bnNet();
  m.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  freeze(m, ['0', '1', '2.bias']);
  const before = stateDictOf(m);
  const { x, y } = batch(5);
  const warn = console.warn;
  console.warn = () => {}; // TF.js warns that trainableWeights changed since compile(): expected here.
  try { await m.fit(x, y, { epochs: 2, verbose: 0 }); } finally { console.warn = warn; }
  const after = stateDictOf(m);
  for (const k of frozenKeys(m)) assert.deepEqual(after.get(k)!.data, before.get(k)!.data, `${k} is frozen`);
  assert.notDeepEqual(after.get('2.kernel')!.data, before.get('2.kernel')!.data);
});

test('trainableSummary counts elements per layer; BatchNorm statistics are non-trainable (frozen column), as in Keras', async () => {
  await tf.setBackend('cpu');
  const m = bnNet();
  let s = trainableSummary(m);
  assert.deepEqual(s.layers.map((l) => [l.key, l.className, l.trainable, l.frozen, l.statistics]), [
    ['0', 'Dense', 16, 0, 0], ['1', 'BatchNormalization', 8, 8, 8], ['2', 'Dense', 10, 0, 0],
  ]);
  assert.deepEqual(s.totals, { trainable: 34, frozen: 8, statistics: 8, total: 42 });
  assert.equal(s.totals.total, m.countParams());
  assert.equal(s.totals.trainable, m.trainableWeights.reduce((a, w) => a + w.shape.reduce((p: number, d) => p * (d as number), 1), 0));
  freeze(m, ['0', '1']);
  s = trainableSummary(m);
  assert.deepEqual(s.totals, { trainable: 10, frozen: 32, statistics: 8, total: 42 });
  const text = formatSummary(m);
  assert.match(text, /^Layer\s+Class\s+Trainable\s+Frozen$/m);
  assert.match(text, /^1\s+BatchNormalization\s+0\s+16 \(8 BN stats\)$/m);
  assert.match(text, /^Total params: 42$/m);
  assert.match(text, /^Frozen \(non-trainable\) params: 32, of which BatchNorm statistics: 8$/m);
});

test('seed 004: detach passes values through and stops the gradient', async () => {
  await tf.setBackend('cpu');
  const x = tf.tensor1d([1, -2, 3]);
  assert.deepEqual(Array.from(detach(x).dataSync()), [1, -2, 3]);
  const g = tf.grad((t: tf.Tensor) => tf.add(tf.sum(tf.mul(detach(t), t)), tf.sum(detach(tf.square(t)))))(x);
  assert.deepEqual(Array.from(g.dataSync()), [1, -2, 3], 'only the non-detached factor contributes');
  const g0 = tf.grad((t: tf.Tensor) => tf.sum(detach(tf.mul(t, 3))))(x);
  assert.deepEqual(Array.from(g0.dataSync()), [0, 0, 0]);
  // Seed 004's model: liner3(liner2(liner1(x)).detach()) only trains liner3.
  const l1 = tf.layers.dense({ units: 2, inputShape: [3] });
  const l2 = tf.layers.dense({ units: 1 });
  const inp = tf.tensor2d([[2, 1, 3]]);
  l2.apply(l1.apply(inp) as tf.Tensor);
  const vars = [...l1.trainableWeights, ...l2.trainableWeights].map((w) => w.read() as tf.Variable);
  const { grads } = tf.variableGrads(() => tf.sum(l2.apply(detach(l1.apply(inp) as tf.Tensor)) as tf.Tensor) as tf.Scalar, vars);
  for (const v of vars.slice(0, 2)) assert.ok(grads[v.name] === undefined || tf.max(tf.abs(grads[v.name])).dataSync()[0] === 0, v.name);
  for (const v of vars.slice(2)) assert.ok(tf.max(tf.abs(grads[v.name])).dataSync()[0] > 0, v.name);
  assert.ok(weightSlots({ a: tf.variable(tf.zeros([1])) }).length === 1);
});

test('freezing one weight of a layer keeps the key order (the order optimizer state follows)', async () => {
  await tf.setBackend('cpu');
  const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 2, name: 'fc' }), tf.layers.batchNormalization()] });
  const before = [...stateDictOf(m).keys()];
  freeze(m, 'fc.kernel');
  assert.deepEqual([...stateDictOf(m).keys()], before);
});
