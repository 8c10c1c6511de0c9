/**
 * Cached frozen features and the frozen prefix run off the gradient tape: a cached run equals an
 * uncached one (same seed, shuffled) within 1e-6; what cannot be cached is not, with the reason;
 * the cut is a set of tensors that respects residual blocks; a schedule that unfreezes moves it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { train, type TrainOptions } from '../../lib/train/train';
import { fixedData } from '../../lib/train/data';
import { freeze } from '../../lib/freeze/freeze';
import { unfreezeAt } from '../../lib/train/schedules';
import { weightSlots } from '../../lib/model/weights';
import type { History } from '../../lib/train/history';

const ready = tf.setBackend('cpu');

const conv = (name: string, filters: number, kernelSize: number, strides = 1) => tf.layers.conv2d({ name, filters, kernelSize, strides, padding: 'same', useBias: false });
const bn = (name: string) => tf.layers.batchNormalization({ name, epsilon: 1e-5 });

/** A basic residual block (torchvision's BasicBlock shape): two 3×3 convs with BatchNorm, a projection shortcut when the shape changes. */
function block(name: string, x: tf.SymbolicTensor, filters: number, project: boolean): tf.SymbolicTensor {
  let y = conv(`${name}.conv1`, filters, 3, project ? 2 : 1).apply(x) as tf.SymbolicTensor;
  y = bn(`${name}.bn1`).apply(y) as tf.SymbolicTensor;
  y = tf.layers.reLU({ name: `${name}.relu1` }).apply(y) as tf.SymbolicTensor;
  y = conv(`${name}.conv2`, filters, 3).apply(y) as tf.SymbolicTensor;
  y = bn(`${name}.bn2`).apply(y) as tf.SymbolicTensor;
  let s = x;
  if (project) {
    s = conv(`${name}.down.conv`, filters, 1, 2).apply(x) as tf.SymbolicTensor;
    s = bn(`${name}.down.bn`).apply(s) as tf.SymbolicTensor;
  }
  const sum = tf.layers.add({ name: `${name}.add` }).apply([y, s]) as tf.SymbolicTensor;
  return tf.layers.reLU({ name: `${name}.relu` }).apply(sum) as tf.SymbolicTensor;
}

/** stem → stage1 (identity block) → stage2 (projection block) → pool → head, BatchNorm statistics made non-trivial. */
function resNet(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 3], name: 'image' });
  let x = conv('stem.conv', 8, 3).apply(input) as tf.SymbolicTensor;
  x = bn('stem.bn').apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'stem.relu' }).apply(x) as tf.SymbolicTensor;
  x = block('stage1', x, 8, false);
  x = block('stage2', x, 16, true);
  x = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'head', units: 4 }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  let seed = 1;
  for (const s of weightSlots(model)) {
    if (/moving_mean$/.test(s.key)) s.write(tf.randomNormal(s.shape, 0, 0.2, 'float32', seed++));
    if (/moving_variance$/.test(s.key)) s.write(tf.randomUniform(s.shape, 0.5, 1.5, 'float32', seed++));
  }
  return model;
}

function data(n: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  return { x: tf.randomNormal([n, 6, 6, 3], 0, 1, 'float32', seed), y: tf.tensor1d(Array.from({ length: n }, (_, i) => (i * 7 + seed) % 4), 'int32') };
}

const values = (m: tf.LayersModel) => new Map(weightSlots(m).map((s) => [s.key, Array.from(s.variable.dataSync())]));

function assertClose(a: number[], b: number[], tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(b[i])), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

/** Runs `opts` twice from the same weights, cached and not, and checks losses, validation losses and final weights agree within 1e-6. */
async function cachedEqualsUncached(make: () => tf.LayersModel, prepare: (m: tf.LayersModel) => void, d: tf.TensorContainer & { x: tf.Tensor; y: tf.Tensor }, opts: TrainOptions): Promise<{ cached: History; plain: History }> {
  const m1 = make();
  const m2 = make();
  m2.setWeights(m1.getWeights());
  prepare(m1);
  prepare(m2);
  const cached = await train(m1, d, opts);
  const plain = await train(m2, d, { ...opts, cacheFrozen: false });
  assert.equal(cached.cache.used, true, `cached run: ${cached.cache.reason}`);
  assert.equal(plain.cache.used, false);
  assertClose(cached.loss, plain.loss, 1e-6, 'loss');
  assertClose(cached.epochs.map((e) => e.valLoss ?? 0), plain.epochs.map((e) => e.valLoss ?? 0), 1e-6, 'valLoss');
  const w1 = values(m1);
  for (const [k, v] of values(m2)) assertClose(w1.get(k)!, v, 1e-6, k);
  m1.dispose();
  m2.dispose();
  return { cached, plain };
}

const base: TrainOptions = { loss: 'sparseCategoricalCrossentropyFromLogits', epochs: 3, batchSize: 8, shuffle: true, seed: 4, optimizer: 'sgd', momentum: 0.9, lr: 0.05, guard: { every: 'step' } };

test('fastai freeze_to: stem and stage1 frozen, stage2 and head trained: cut after stage1, cached run = uncached run (losses, validation, weights) within 1e-6', async () => {
  await ready;
  const train40 = data(24, 1);
  const val = data(8, 2);
  const { cached, plain } = await cachedEqualsUncached(resNet, (m) => freeze(m, ['stem', 'stage1']), train40, { ...base, validationData: val });
  assert.deepEqual(cached.cache.cutAfter, ['stage1.relu']);
  assert.match(cached.cache.reason, /the cut stops before 'stage2\.(conv1|down\.conv)' is trained/);
  // 6×6×8 floats per example, training and validation examples.
  assert.equal(cached.cache.bytes, (24 + 8) * 6 * 6 * 8 * 4);
  assert.ok(cached.cache.seconds > 0);
  assert.match(plain.cache.reason, /cacheFrozen: false/);
  // The frozen prefix ran outside the tape in both.
  for (const h of [cached, plain]) assert.deepEqual(h.offTape, ['stem.conv', 'stem.bn', 'stem.relu', 'stage1.conv1', 'stage1.bn1', 'stage1.relu1', 'stage1.conv2', 'stage1.bn2', 'stage1.add', 'stage1.relu']);
  tf.dispose([train40, val]);
});

test('a residual block whose branch is trained but whose projection shortcut is frozen: the cut holds the block input and the shortcut output', async () => {
  await ready;
  const d = data(24, 3);
  const { cached } = await cachedEqualsUncached(resNet, (m) => freeze(m, ['stem', 'stage1', 'stage2.down']), d, { ...base, epochs: 2 });
  assert.deepEqual(cached.cache.cutAfter, ['stage1.relu', 'stage2.down.bn']);
  tf.dispose(d);
});

test('only the head trained: the cut is the pooled features, 16 floats per example', async () => {
  await ready;
  const d = data(24, 5);
  const { cached } = await cachedEqualsUncached(resNet, (m) => freeze(m, ['stem', 'stage1', 'stage2']), d, { ...base, epochs: 2, optimizer: 'adam', lr: 0.01, momentum: undefined });
  assert.deepEqual(cached.cache.cutAfter, ['pool']);
  assert.equal(cached.cache.bytes, 24 * 16 * 4);
  assert.match(cached.cache.reason, /before 'head' is trained/);
  tf.dispose(d);
});

/** input → [layers] → head, with the given layers frozen. */
function chain(layers: tf.layers.Layer[], frozen: string[], bnStats: 'freeze' | 'train' = 'freeze'): tf.LayersModel {
  const input = tf.input({ shape: [6] });
  let x: tf.SymbolicTensor = input;
  for (const l of layers) x = l.apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: tf.layers.dense({ name: 'head', units: 3 }).apply(x) as tf.SymbolicTensor });
  freeze(model, frozen, { bnStats });
  return model;
}

test('not cached, with the reason: Dropout before any frozen layer, a BatchNorm in bnStats "train" mode, a generator dataset, a transform, cacheFrozen: false, a single epoch', async () => {
  await ready;
  const x = tf.randomNormal([16, 6], 0, 1, 'float32', 9);
  const y = tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 3), 'int32');
  const opts: TrainOptions = { loss: 'sparseCategoricalCrossentropyFromLogits', epochs: 2, batchSize: 8 };
  const reasonOf = async (m: tf.LayersModel, d: Parameters<typeof train>[1] = { x, y }, o: Partial<TrainOptions> = {}) => {
    const h = await train(m, d, { ...opts, ...o });
    m.dispose();
    return h.cache;
  };
  let c = await reasonOf(chain([tf.layers.dropout({ name: 'drop', rate: 0.5 }), tf.layers.dense({ name: 'body', units: 5 })], ['body']));
  assert.equal(c.used, false);
  assert.match(c.reason, /'drop' \(Dropout is random in training\)/);
  // Dropout after a frozen layer: cached up to it.
  c = await reasonOf(chain([tf.layers.dense({ name: 'body1', units: 5 }), tf.layers.dropout({ name: 'drop', rate: 0.5 }), tf.layers.dense({ name: 'body2', units: 5 })], ['body1', 'body2']));
  assert.equal(c.used, true);
  assert.deepEqual(c.cutAfter, ['body1']);
  assert.match(c.reason, /stops before 'drop' \(Dropout is random in training\)/);
  c = await reasonOf(chain([tf.layers.batchNormalization({ name: 'bn' }), tf.layers.dense({ name: 'body', units: 5 })], ['bn', 'body'], 'train'));
  assert.equal(c.used, false);
  assert.match(c.reason, /BatchNorm 'bn', which normalises with batch statistics/);
  c = await reasonOf(chain([tf.layers.batchNormalization({ name: 'bn' }), tf.layers.dense({ name: 'body', units: 5 })], ['bn', 'body'], 'freeze'));
  assert.deepEqual([c.used, c.cutAfter], [true, ['body']]);
  const gen = () => tf.data.generator(function* () {
    for (let b = 0; b < 2; b++) yield { xs: x.slice(b * 8, 8), ys: y.slice(b * 8, 8) };
  }) as unknown as tf.data.Dataset<{ xs: tf.Tensor; ys: tf.Tensor }>;
  const frozenBody = () => chain([tf.layers.dense({ name: 'body', units: 5 })], ['body']);
  c = await reasonOf(frozenBody(), gen());
  assert.equal(c.used, false);
  assert.match(c.reason, /Dataset whose batches may change between passes; mark it with fixedData\(ds\)/);
  c = await reasonOf(frozenBody(), { x, y }, { transform: (v) => tf.add(v as tf.Tensor, 0.1) });
  assert.match(c.reason, /transform changes the inputs every epoch/);
  c = await reasonOf(frozenBody(), { x, y }, { cacheFrozen: false });
  assert.match(c.reason, /off \(cacheFrozen: false\)/);
  c = await reasonOf(frozenBody(), { x, y }, { epochs: 1 });
  assert.match(c.reason, /single epoch/);
  c = await reasonOf(frozenBody(), { x, y }, { cacheFrozen: { maxBytes: 100 } });
  assert.match(c.reason, /would take 320 B, over the budget of 100 B/);
  // A dataset marked fixed is cached, and trains as the uncached generator does.
  const m1 = frozenBody();
  const m2 = frozenBody();
  m2.setWeights(m1.getWeights());
  const h1 = await train(m1, fixedData(gen()), opts);
  const h2 = await train(m2, gen(), opts);
  assert.deepEqual([h1.cache.used, h1.cache.cutAfter], [true, ['body']]);
  assertClose(h1.loss, h2.loss, 1e-6, 'loss');
  tf.dispose([x, y]);
  m1.dispose();
  m2.dispose();
});

test('frozen layers never pay for gradients: off the tape, the same losses bit for bit with fewer bytes and tensors alive during the step', async () => {
  await ready;
  const d = data(16, 6);
  const probe = (m: tf.LayersModel, offTape: boolean) => {
    const kept: Array<{ bytes: number; tensors: number }> = [];
    const loss = (t: tf.Tensor, z: tf.Tensor) => {
      kept.push({ bytes: tf.memory().numBytes, tensors: tf.memory().numTensors });
      return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.cast(t, 'int32'), 4), z) as tf.Scalar;
    };
    return train(m, d, { loss, epochs: 1, batchSize: 8, optimizer: 'sgd', lr: 0.05, cacheFrozen: false, frozenOffTape: offTape }).then((h) => ({ h, kept }));
  };
  const m1 = resNet();
  const m2 = resNet();
  m2.setWeights(m1.getWeights());
  freeze(m1, ['stem', 'stage1']);
  freeze(m2, ['stem', 'stage1']);
  const on = await probe(m1, false);
  const off = await probe(m2, true);
  assert.deepEqual(off.h.loss, on.h.loss, 'same computation, same bits');
  assert.deepEqual(on.h.offTape, []);
  assert.ok(off.h.offTape.includes('stage1.relu'));
  for (let i = 0; i < on.kept.length; i++) {
    assert.ok(off.kept[i].bytes < on.kept[i].bytes, `step ${i}: ${off.kept[i].bytes} bytes alive off the tape, ${on.kept[i].bytes} on it`);
    assert.ok(off.kept[i].tensors < on.kept[i].tensors, `step ${i}: ${off.kept[i].tensors} tensors vs ${on.kept[i].tensors}`);
  }
  m1.dispose();
  m2.dispose();
  tf.dispose(d);
});

test('a schedule unfreezes stage2 at epoch 2: the cache moves back to stage1, the guard stops guarding stage2, history and events say so, and the run equals an uncached one', async () => {
  await ready;
  const d = data(24, 7);
  const events: string[] = [];
  const opts: TrainOptions = {
    ...base,
    epochs: 3,
    callbacks: [unfreezeAt([{ epoch: 2, params: 'stage2', lr: 0.01, name: 'stage2' }]), { onEvent: (e) => { events.push(`${e.kind}@${e.epoch}`); } }],
  };
  const { cached, plain } = await cachedEqualsUncached(resNet, (m) => freeze(m, ['stem', 'stage1', 'stage2']), d, opts);
  assert.deepEqual(cached.cache.cutAfter, ['stage1.relu']);
  assert.deepEqual(cached.events.map((e) => `${e.kind}@${e.epoch}`), ['cache@0', 'unfreeze@2', 'cache@2']);
  assert.match(cached.events[0].message, /^cached the frozen features after 'pool': 1\.5 KiB in \d+\.\d s$/);
  assert.match(cached.events[1].message, /unfroze \d+ layers \(stage2\.conv1, stage2\.bn1, stage2\.conv2, …\) into group 'stage2' at lr 0\.01/);
  assert.match(cached.events[2].message, /^recomputed the frozen features after 'stage1\.relu'/);
  assert.deepEqual(plain.events.map((e) => e.kind), ['unfreeze']);
  assert.deepEqual(events, ['cache@0', 'unfreeze@2', 'cache@2', 'unfreeze@2']);
  assert.deepEqual(cached.groups.map((g) => [g.name, g.lr]), [['default', 0.05], ['stage2', 0.01]]);
  assert.ok(cached.groups[1].keys.includes('stage2.conv1.kernel') && cached.groups[1].keys.includes('stage2.bn1.gamma'));
  assert.ok(!cached.frozen.some((k) => k.startsWith('stage2.')), 'stage2 is no longer reported frozen');
  tf.dispose(d);
});

test('memory: a cached run leaves no tensor behind, and each step makes and frees the same number', async () => {
  await ready;
  const d = data(24, 8);
  const model = resNet();
  freeze(model, ['stem', 'stage1']);
  const before = tf.memory().numTensors;
  const counts: number[] = [];
  const h = await train(model, d, { ...base, epochs: 3, validationData: d, onStep: () => { counts.push(tf.memory().numTensors); } });
  assert.equal(h.cache.used, true);
  assert.ok(counts.slice(1).every((c) => c === counts[1]), `tensors per step: ${counts}`);
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
  tf.dispose(d);
});

test('an interrupt during the cache pass is heard between its batches: the run stops before its first step', async () => {
  await ready;
  const d = data(32, 9);
  const model = resNet();
  freeze(model, ['stem', 'stage1']);
  const ac = new AbortController();
  const before = tf.memory().numTensors;
  // Fires at the first yield to the event loop: after the first batch of the cache pass.
  const h = await train(model, d, { ...base, signal: ac.signal, callbacks: [{ onTrainBegin: () => { setImmediate(() => ac.abort()); } }] });
  assert.deepEqual([h.steps, h.stopped, h.cache.used, h.cache.reason], [0, 'aborted', false, 'stopped while computing the features']);
  assert.equal(tf.memory().numTensors, before, 'the partial cache is freed');
  model.dispose();
  tf.dispose(d);
});
