/**
 * The training loop: learning, parameter groups with their own learning rates (seed 002 §2.3),
 * frozen weights that never move whatever TF.js's flags say, weight drift, the frozen-weight
 * guard, Dataset input, progress and memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { train, type TrainOptions } from '../../lib/train/train';
import { driftOf } from '../../lib/train/history';
import { permutation } from '../../lib/train/data';
import { terminalProgress, type ProgressInfo, type ProgressSink } from '../../lib/train/progress';
import { markFrozen } from '../../lib/freeze/registry';
import { FrozenWeightError } from '../../lib/freeze/guard';
import { weightSlots } from '../../lib/model/weights';
import { backboneHeadNet } from '../helpers/models';

const ready = tf.setBackend('cpu');

/** Two Gaussian blobs, linearly separable: class 0 around (-1, -1), class 1 around (1, 1). */
function blobs(n = 64, seed = 1): { x: tf.Tensor2D; y: tf.Tensor2D; labels: tf.Tensor1D } {
  let s = seed;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const xs: number[] = [];
  const ys: number[] = [];
  const ls: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    const sign = c === 0 ? -1 : 1;
    xs.push(sign + 0.6 * rand(), sign + 0.6 * rand());
    ys.push(c === 0 ? 1 : 0, c === 0 ? 0 : 1);
    ls.push(c);
  }
  return { x: tf.tensor2d(xs, [n, 2]), y: tf.tensor2d(ys, [n, 2]), labels: tf.tensor1d(ls) };
}

function values(model: tf.LayersModel): Map<string, Float32Array> {
  return new Map(weightSlots(model).map((s) => [s.key, s.variable.dataSync().slice() as Float32Array]));
}

function bitEqual(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Gradients of the mean categorical cross-entropy at the model's current weights, by key. */
function gradsAt(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor): Map<string, Float32Array> {
  const slots = weightSlots(model);
  const { value, grads } = tf.variableGrads(() => tf.mean(tf.metrics.categoricalCrossentropy(y, model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar, slots.map((s) => s.variable));
  const out = new Map(slots.map((s) => [s.key, grads[s.variable.name].dataSync().slice() as Float32Array]));
  value.dispose();
  tf.dispose(Object.values(grads));
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    assert.ok(d <= tol * Math.max(1, Math.abs(expected[i])), `${what}[${i}]: ${actual[i]} vs ${expected[i]} (|d| = ${d})`);
  }
}

const base: TrainOptions = { loss: 'categoricalCrossentropy', epochs: 1, guard: true };

test('the loss decreases on a tiny separable problem; accuracy and validation loss are reported', async () => {
  await ready;
  const model = backboneHeadNet();
  const { x, y } = blobs(64, 1);
  const val = blobs(32, 7);
  const h = await train(model, { x, y }, { ...base, epochs: 15, batchSize: 16, optimizer: 'adam', lr: 0.05, shuffle: true, seed: 3, metrics: ['accuracy'], validationData: { x: val.x, y: val.y } });
  assert.equal(h.loss.length, 15 * 4);
  assert.equal(h.steps, 60);
  assert.equal(h.epochs.length, 15);
  const first = h.epochs[0];
  const last = h.epochs[14];
  assert.ok(last.loss < first.loss / 4, `epoch loss ${first.loss} → ${last.loss}`);
  assert.ok(last.metrics.accuracy >= 0.95, `accuracy ${last.metrics.accuracy}`);
  assert.ok(last.valLoss !== undefined && last.valLoss < 0.2, `valLoss ${last.valLoss}`);
  assert.ok((last.valMetrics?.accuracy ?? 0) >= 0.95);
  assert.deepEqual(h.groups.map((g) => [g.name, g.optimizer, g.lr]), [['default', 'adam', 0.05]]);
  tf.dispose([x, y, val.x, val.y, val.labels]);
  model.dispose();
});

test('sparse labels and meanSquaredError losses train too', async () => {
  await ready;
  const { x, y, labels } = blobs(32, 2);
  const m1 = backboneHeadNet();
  const h1 = await train(m1, { x, y: labels }, { loss: 'sparseCategoricalCrossentropy', epochs: 10, batchSize: 32, optimizer: 'adam', lr: 0.05, metrics: ['accuracy'] });
  assert.ok(h1.loss[h1.loss.length - 1] < h1.loss[0] / 2);
  assert.ok(h1.epochs[9].metrics.accuracy >= 0.95);
  const m2 = backboneHeadNet();
  const h2 = await train(m2, { x, y }, { loss: 'meanSquaredError', epochs: 10, batchSize: 32, optimizer: 'adam', lr: 0.05, metrics: ['accuracy'] });
  assert.ok(h2.loss[h2.loss.length - 1] < h2.loss[0] / 2);
  assert.ok(h2.epochs[9].metrics.accuracy >= 0.95, `accuracy ${h2.epochs[9].metrics.accuracy}`);
  tf.dispose([x, y, labels]);
  m1.dispose();
  m2.dispose();
});

test('parameter groups: with plain SGD each group moves by exactly its own lr × gradient (backbone 1e-3, head 1e-2)', async () => {
  await ready;
  const model = backboneHeadNet();
  const { x, y } = blobs(16, 4);
  const w0 = values(model);
  const g = gradsAt(model, x, y);
  const h = await train(model, { x, y }, { ...base, batchSize: 16, optimizer: 'sgd', lr: 1e-3, paramGroups: [{ params: 'head', lr: 1e-2, name: 'fc' }] });
  assert.equal(h.steps, 1);
  assert.deepEqual(h.groups.map((gr) => [gr.name, gr.lr, gr.keys]), [['fc', 1e-2, ['head.kernel', 'head.bias']], ['default', 1e-3, ['backbone.kernel', 'backbone.bias']]]);
  const w1 = values(model);
  for (const [key, lr] of [['backbone.kernel', 1e-3], ['backbone.bias', 1e-3], ['head.kernel', 1e-2], ['head.bias', 1e-2]] as const) {
    const before = w0.get(key)!;
    const after = w1.get(key)!;
    const grad = g.get(key)!;
    const moved = Array.from(after, (v, i) => before[i] - v);
    const expected = Array.from(grad, (v) => lr * v);
    // The update is lr·grad up to float32 rounding of w − lr·g.
    for (let i = 0; i < moved.length; i++) {
      const d = Math.abs(moved[i] - expected[i]);
      assert.ok(d <= 1e-7 + 1e-6 * Math.abs(before[i]), `${key}[${i}]: moved ${moved[i]}, lr·grad ${expected[i]}`);
    }
    // And the ratio of movement to gradient is the group's lr.
    const num = moved.reduce((s, v, i) => s + v * grad[i], 0);
    const den = Array.from(grad).reduce((s, v) => s + v * v, 0);
    assert.ok(Math.abs(num / den - lr) < lr * 1e-3, `${key}: effective lr ${num / den}, want ${lr}`);
  }
  tf.dispose([x, y]);
  model.dispose();
});

test('seed 002 §2.3: SGD([{base}, {fc, lr: 1e-2}], lr=1e-3, momentum=0.9) matches a hand-written reference over 3 steps', async () => {
  await ready;
  const model = backboneHeadNet();
  const ref = backboneHeadNet();
  ref.setWeights(model.getWeights());
  const { x, y } = blobs(24, 5);
  await train(model, { x, y }, { ...base, epochs: 3, batchSize: 24, optimizer: 'sgd', lr: 1e-3, momentum: 0.9, paramGroups: [{ params: ['head.kernel', 'head.bias'], lr: 1e-2 }] });
  // Reference: buf = 0.9·buf + g; w −= lr_group·buf (PyTorch SGD with momentum, dampening 0).
  const slots = weightSlots(ref);
  const bufs = new Map<string, tf.Tensor>();
  for (let step = 0; step < 3; step++) {
    const g = gradsAt(ref, x, y);
    for (const s of slots) {
      const lr = s.layerKey === 'head' ? 1e-2 : 1e-3;
      const gt = tf.tensor(g.get(s.key)!, s.shape);
      const prev = bufs.get(s.key);
      const buf = prev ? tf.add(tf.mul(prev, 0.9), gt) : gt.clone();
      prev?.dispose();
      bufs.set(s.key, buf);
      s.variable.assign(tf.sub(s.variable, tf.mul(buf, lr)));
      gt.dispose();
    }
  }
  const got = values(model);
  const want = values(ref);
  for (const [k, v] of want) assertClose(got.get(k)!, v, 1e-6, k);
  tf.dispose([...bufs.values(), x, y]);
  model.dispose();
  ref.dispose();
});

test("weight decay: 'l2' adds wd·w to the gradient (SGD); 'decoupled' shrinks w by lr·wd·w beside Adam's step", async () => {
  await ready;
  const { x, y } = blobs(16, 6);
  {
    const model = backboneHeadNet();
    const w0 = values(model);
    const g = gradsAt(model, x, y);
    await train(model, { x, y }, { ...base, batchSize: 16, optimizer: 'sgd', lr: 0.1, weightDecay: 0.5 });
    const w1 = values(model);
    for (const [k, before] of w0) assertClose(w1.get(k)!, Array.from(before, (w, i) => w - 0.1 * (g.get(k)![i] + 0.5 * w)), 1e-5, `l2 ${k}`);
    model.dispose();
  }
  {
    const model = backboneHeadNet();
    const w0 = values(model);
    const g = gradsAt(model, x, y);
    await train(model, { x, y }, { ...base, batchSize: 16, optimizer: 'adam', lr: 0.01, paramGroups: [{ params: 'head', weightDecay: 0.5, weightDecayMode: 'decoupled' }] });
    const w1 = values(model);
    // Adam's first step is lr·g/(|g| + ε) (bias-corrected moments); ε = 1e-7 on the cpu backend.
    const eps = 1e-7;
    for (const [k, before] of w0) {
      const wd = k.startsWith('head.') ? 0.5 : 0;
      assertClose(w1.get(k)!, Array.from(before, (w, i) => w * (1 - 0.01 * wd) - (0.01 * g.get(k)![i]) / (Math.abs(g.get(k)![i]) + eps)), 2e-5, `decoupled ${k}`);
    }
    model.dispose();
  }
  tf.dispose([x, y]);
});

test('frozen weights (registry) stay bit-identical even though TF.js says the layer and its variables are trainable', async () => {
  await ready;
  const model = backboneHeadNet();
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  markFrozen(model, ['backbone.kernel', 'backbone.bias'], true);
  const backbone = model.getLayer('backbone');
  assert.equal(backbone.trainable, true);
  assert.ok(weightSlots(model).every((s) => s.variable.trainable), 'every tf.Variable says trainable');
  const { x, y } = blobs(32, 8);
  const w0 = values(model);
  const h = await train(model, { x, y }, { ...base, epochs: 4, batchSize: 8, optimizer: 'adam', lr: 0.05, paramGroups: [{ params: '**', lr: 0.05 }] });
  const w1 = values(model);
  assert.ok(bitEqual(w0.get('backbone.kernel')!, w1.get('backbone.kernel')!));
  assert.ok(bitEqual(w0.get('backbone.bias')!, w1.get('backbone.bias')!));
  assert.ok(!bitEqual(w0.get('head.kernel')!, w1.get('head.kernel')!), 'the head trained');
  assert.deepEqual(h.groups[0].keys, ['head.kernel', 'head.bias'], 'a group selecting frozen weights does not get them');
  assert.deepEqual(h.frozen, ['backbone.kernel', 'backbone.bias']);
  tf.dispose([x, y]);
  model.dispose();
});

test('Sequential pitfall (TF.js 4.22): compile() resets weight flags, so fit() trains a nested model set trainable=false and minimize() trains a frozen layer; train() is immune', async () => {
  await ready;
  const { x, y } = blobs(16, 9);
  const build = () => {
    const inner = tf.sequential({ name: 'body', layers: [tf.layers.dense({ name: 'backbone', inputShape: [2], units: 8, activation: 'tanh' })] });
    const model = tf.sequential({ layers: [inner, tf.layers.dense({ name: 'head', units: 2, activation: 'softmax' })] });
    return { inner, model };
  };
  // 1. A nested Sequential frozen the TF.js way is trained by compile + fit anyway.
  {
    const { inner, model } = build();
    inner.trainable = false;
    model.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy' });
    assert.equal(inner.trainable, false);
    assert.ok(weightSlots(inner).every((s) => s.variable.trainable), 'compile() set the inner weights trainable again');
    const w0 = values(inner);
    await model.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0 });
    assert.ok(!bitEqual(w0.get('backbone.kernel')!, values(inner).get('backbone.kernel')!), 'TF.js fit trained the "frozen" nested model');
    model.dispose();
  }
  // 2. A hand-written loop with optimizer.minimize() and no variable list trains a layer whose trainable was set to false before compile().
  {
    const { model } = build();
    const layer = (model.layers[0] as tf.Sequential).getLayer('backbone');
    layer.trainable = false;
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    const w0 = values(model);
    const opt = tf.train.sgd(0.5);
    opt.minimize(() => tf.mean(tf.metrics.categoricalCrossentropy(y, model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar);
    assert.ok(!bitEqual(w0.get('body.backbone.kernel')!, values(model).get('body.backbone.kernel')!), 'minimize() trained the frozen layer');
    opt.dispose();
    model.dispose();
  }
  // 3. train(): the same model frozen in the registry, flags reset by compile(), does not move.
  {
    const { model } = build();
    markFrozen(model, ['body.backbone.kernel', 'body.backbone.bias'], true);
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    assert.ok(weightSlots(model).every((s) => s.variable.trainable), 'TF.js says everything is trainable');
    const w0 = values(model);
    await train(model, { x, y }, { ...base, epochs: 2, batchSize: 16, optimizer: 'sgd', lr: 0.5 });
    const w1 = values(model);
    assert.ok(bitEqual(w0.get('body.backbone.kernel')!, w1.get('body.backbone.kernel')!));
    assert.ok(bitEqual(w0.get('body.backbone.bias')!, w1.get('body.backbone.bias')!));
    assert.ok(!bitEqual(w0.get('head.kernel')!, w1.get('head.kernel')!));
    model.dispose();
  }
  // 4. train() also leaves alone a layer the user set trainable=false the TF.js way (not in the registry).
  {
    const { inner, model } = build();
    inner.trainable = false;
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    const w0 = values(model);
    const h = await train(model, { x, y }, { ...base, epochs: 2, batchSize: 16, optimizer: 'sgd', lr: 0.5 });
    assert.ok(bitEqual(w0.get('body.backbone.kernel')!, values(model).get('body.backbone.kernel')!));
    assert.deepEqual(h.frozen, ['body.backbone.kernel', 'body.backbone.bias']);
    model.dispose();
  }
  tf.dispose([x, y]);
});

test('drift: frozen layers read exactly 0 at every sample, trained layers grow; samples every sampleEvery steps plus the last', async () => {
  await ready;
  const model = backboneHeadNet();
  markFrozen(model, ['backbone.kernel', 'backbone.bias'], true);
  const { x, y } = blobs(40, 10);
  const h = await train(model, { x, y }, { ...base, epochs: 3, batchSize: 8, optimizer: 'adam', lr: 0.02, sampleEvery: 4 });
  assert.deepEqual(h.drift.layers, ['backbone', 'head']);
  assert.deepEqual(h.drift.steps, [0, 4, 8, 12, 15]);
  assert.ok(driftOf(h.drift, 'backbone').every((v) => v === 0), `backbone drift ${driftOf(h.drift, 'backbone')}`);
  const head = driftOf(h.drift, 'head');
  assert.equal(head[0], 0);
  for (let i = 1; i < head.length; i++) assert.ok(head[i] > head[i - 1], `head drift grows: ${head}`);
  // Default sampling: 4 per epoch.
  const h2 = await train(backboneHeadNet(), { x, y }, { ...base, epochs: 2, batchSize: 4 });
  assert.deepEqual(h2.drift.steps, [0, 3, 6, 9, 12, 15, 18, 20]);
  tf.dispose([x, y]);
  model.dispose();
});

test('the guard throws FrozenWeightError when an onStep callback changes a frozen weight (each epoch by default, or each step)', async () => {
  await ready;
  const { x, y } = blobs(32, 11);
  const tamper = (model: tf.LayersModel, calls: number[]) => (info: { step: number }) => {
    calls.push(info.step);
    if (info.step === 2) {
      const s = weightSlots(model).find((w) => w.key === 'backbone.bias')!;
      s.write(tf.tidy(() => tf.add(s.variable, 0.25)));
    }
  };
  for (const [guard, steps] of [[undefined, 4], [{ every: 'step' as const }, 2], [{ every: 3 }, 3]] as const) {
    const model = backboneHeadNet();
    markFrozen(model, ['backbone.kernel', 'backbone.bias'], true);
    const calls: number[] = [];
    await assert.rejects(
      train(model, { x, y }, { ...base, epochs: 2, batchSize: 8, guard, onStep: tamper(model, calls) }),
      (e: unknown) => e instanceof FrozenWeightError && /backbone\.bias/.test(e.message) && /0\.25/.test(e.message),
    );
    assert.equal(calls.length, steps, `guard ${JSON.stringify(guard)} stopped after step ${calls.length}`);
    model.dispose();
  }
  const model = backboneHeadNet();
  markFrozen(model, ['backbone.kernel', 'backbone.bias'], true);
  const h = await train(model, { x, y }, { ...base, epochs: 2, batchSize: 8, guard: false, onStep: tamper(model, []) });
  assert.equal(h.steps, 8, 'guard: false lets it through');
  model.dispose();
  tf.dispose([x, y]);
});

test('a tf.data.Dataset of batched {xs, ys} trains, of known and of unknown size; the progress total follows', async () => {
  await ready;
  const { x, y } = blobs(48, 12);
  const xs = x.unstack();
  const ys = y.unstack();
  const ds = tf.data.array(xs.map((xi, i) => ({ xs: xi, ys: ys[i] }))).batch(12);
  const model = backboneHeadNet();
  const totals: Array<number | undefined> = [];
  const sink: ProgressSink = { start: (t) => totals.push(t), update: (_s, info) => totals.push(info.total), end: () => undefined };
  const h = await train(model, ds, { ...base, epochs: 8, optimizer: 'adam', lr: 0.05, progress: sink });
  assert.equal(h.steps, 32);
  assert.ok(h.epochs[7].loss < h.epochs[0].loss / 2, `${h.epochs[0].loss} → ${h.epochs[7].loss}`);
  assert.ok(totals.every((t) => t === 32));
  // A generator dataset has no known size: the total becomes known after the first epoch.
  const gen = tf.data.generator(function* () {
    for (let b = 0; b < 4; b++) yield { xs: x.slice(b * 12, 12), ys: y.slice(b * 12, 12) };
  }) as unknown as tf.data.Dataset<{ xs: tf.Tensor; ys: tf.Tensor }>;
  totals.length = 0;
  const h2 = await train(backboneHeadNet(), gen, { ...base, epochs: 2, progress: sink });
  assert.equal(h2.steps, 8);
  assert.deepEqual(totals, [undefined, undefined, undefined, undefined, undefined, 8, 8, 8, 8]);
  await assert.rejects(train(backboneHeadNet(), tf.data.array([1, 2, 3]) as never, { ...base }), /elements must be batched \{ xs: tf\.Tensor, ys: tf\.Tensor \}/);
  tf.dispose([x, y, ...xs, ...ys]);
  model.dispose();
});

test('progress: a sink gets start(total), one update per step with rate and ETA, and end(); the terminal sink draws a bar on a TTY and lines otherwise', async () => {
  await ready;
  const { x, y } = blobs(20, 13);
  const events: string[] = [];
  const infos: ProgressInfo[] = [];
  const sink: ProgressSink = {
    start: (total, info) => events.push(`start ${total} ${info.epochs}x${info.stepsPerEpoch}`),
    update: (step, info) => { events.push(`update ${step}`); infos.push(info); },
    end: (info) => events.push(`end ${info.steps}`),
  };
  await train(backboneHeadNet(), { x, y }, { ...base, epochs: 2, batchSize: 5, progress: sink });
  assert.deepEqual(events, ['start 8 2x4', ...Array.from({ length: 8 }, (_, i) => `update ${i + 1}`), 'end 8']);
  assert.deepEqual(infos.map((i) => i.epoch), [1, 1, 1, 1, 2, 2, 2, 2]);
  assert.ok(infos.every((i) => i.total === 8 && i.rate > 0 && i.eta !== undefined && Number.isFinite(i.loss)));
  assert.equal(infos[7].eta, 0);

  const out = { tty: '', plain: '' };
  const ttyStream = { isTTY: true, columns: 200, write: (s: string) => { out.tty += s; } };
  const plainStream = { isTTY: false, write: (s: string) => { out.plain += s; } };
  await train(backboneHeadNet(), { x, y }, { ...base, epochs: 2, batchSize: 5, progress: terminalProgress({ stream: ttyStream, interval: 0 }) });
  await train(backboneHeadNet(), { x, y }, { ...base, epochs: 2, batchSize: 5, progress: terminalProgress({ stream: plainStream }) });
  assert.match(out.tty, /\r\[=+> *\]  12% step 1\/8 · epoch 1\/2 · loss \d\.\d{4} · [\d.]+ steps\/s · ETA \d+s\x1b\[K/);
  assert.match(out.tty, /\r\[=+\] 100% step 8\/8/);
  assert.match(out.tty, /\ndone: 8 steps in \d+s, loss \d\.\d{4}\n$/);
  assert.ok(!out.plain.includes('\r'));
  const lines = out.plain.trim().split('\n');
  assert.match(lines[0], /^step 1\/8 · epoch 1\/2 · loss/);
  assert.match(lines[lines.length - 1], /^done: 8 steps/);
  assert.ok(lines.length <= 11);
  // A failing run still ends the display.
  events.length = 0;
  await assert.rejects(train(backboneHeadNet(), { x, y }, { ...base, epochs: 1, batchSize: 5, progress: sink, onStep: ({ step }) => { if (step === 2) throw new Error('boom'); } }), /boom/);
  assert.deepEqual(events.slice(-1), ['end 2']);
  tf.dispose([x, y]);
});

test('memory: no tensor leaks per step (Adam state made on the first step only), none left after the run', async () => {
  await ready;
  const { x, y } = blobs(48, 14);
  const val = blobs(16, 15);
  const model = backboneHeadNet();
  markFrozen(model, ['backbone.kernel'], true);
  const before = tf.memory().numTensors;
  const counts: number[] = [];
  await train(model, { x, y }, { ...base, epochs: 3, batchSize: 8, optimizer: 'adam', shuffle: true, metrics: ['accuracy'], validationData: val, paramGroups: [{ params: 'head', lr: 0.01 }], onStep: () => { counts.push(tf.memory().numTensors); } });
  assert.equal(counts.length, 18);
  assert.ok(counts.slice(1).every((c) => c === counts[1]), `tensors per step: ${counts}`);
  assert.equal(tf.memory().numTensors, before, 'optimizers made by train() are disposed, drift copies too');
  // A user's optimizer (factory) keeps its state: the loop does not dispose it.
  const mine: tf.Optimizer[] = [];
  await train(model, { x, y }, { ...base, epochs: 1, batchSize: 8, optimizer: () => { const o = tf.train.adam(0.01); mine.push(o); return o; } });
  assert.equal(mine.length, 1);
  const state = await mine[0].getWeights();
  assert.ok(state.length > 1, 'state kept');
  state[0].tensor.dispose(); // getWeights() makes a new 'iter' scalar
  mine[0].dispose();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, y, val.x, val.y, val.labels]);
  model.dispose();
});

test('shuffle is reproducible from the seed and changes order between epochs', async () => {
  await ready;
  const p0 = permutation(10, 42, 0);
  assert.deepEqual([...p0].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(p0, permutation(10, 42, 0));
  assert.notDeepEqual(p0, permutation(10, 42, 1));
  assert.notDeepEqual(p0, permutation(10, 43, 0));
  const { x, y } = blobs(32, 16);
  const m1 = backboneHeadNet();
  const m2 = backboneHeadNet();
  m2.setWeights(m1.getWeights());
  const m3 = backboneHeadNet();
  m3.setWeights(m1.getWeights());
  const opts = { ...base, epochs: 2, batchSize: 8, shuffle: true, seed: 5 };
  const a = await train(m1, { x, y }, opts);
  const b = await train(m2, { x, y }, opts);
  const c = await train(m3, { x, y }, { ...opts, seed: 6 });
  assert.deepEqual(a.loss, b.loss);
  assert.notDeepEqual(a.loss, c.loss);
  tf.dispose([x, y]);
});

test('clear errors: overlapping groups, a group matching nothing, nothing left to train, shared optimizer instance', async () => {
  await ready;
  const { x, y } = blobs(8, 17);
  const model = backboneHeadNet();
  await assert.rejects(train(model, { x, y }, { ...base, paramGroups: [{ params: 'head' }, { params: 'head.*' }] }), /'head\.kernel' is in paramGroups\[0\] and paramGroups\[1\]/);
  await assert.rejects(train(model, { x, y }, { ...base, paramGroups: [{ params: 'fc.*' }] }), /paramGroups\[0\] \("fc\.\*"\) matches no weight of the model; its keys are backbone\.kernel/);
  const opt = tf.train.sgd(0.1);
  await assert.rejects(train(model, { x, y }, { ...base, optimizer: opt, paramGroups: [{ params: 'head' }] }), /shared by two parameter groups/);
  opt.dispose();
  await assert.rejects(train(model, { x, y }, { ...base, optimizer: 'adagrad' as never }), /unknown optimizer "adagrad"/);
  markFrozen(model, weightSlots(model).map((s) => s.key), true);
  await assert.rejects(train(model, { x, y }, base), /nothing to train/);
  await assert.rejects(train(model, { x: x.slice(0, 4), y }, base), /x has 4 samples but data\.y has 8/);
  tf.dispose([x, y]);
  model.dispose();
});

test('with freeze(): a frozen BatchNorm keeps its statistics and the guard stays quiet; frozen in the registry only, its statistics move and the guard names them', async () => {
  await ready;
  const { freeze } = await import('../../lib/freeze/freeze');
  const bnNet = () => tf.sequential({
    layers: [
      tf.layers.dense({ name: 'backbone', inputShape: [2], units: 8 }),
      tf.layers.batchNormalization({ name: 'bn' }),
      tf.layers.dense({ name: 'head', units: 2, activation: 'softmax' }),
    ],
  });
  const { x, y } = blobs(32, 18);
  const model = bnNet();
  freeze(model, ['backbone', 'bn']);
  const w0 = values(model);
  const h = await train(model, { x, y }, { ...base, epochs: 3, batchSize: 8, optimizer: 'adam', lr: 0.02, guard: { every: 'step' } });
  const w1 = values(model);
  for (const k of ['backbone.kernel', 'bn.gamma', 'bn.beta', 'bn.moving_mean', 'bn.moving_variance']) assert.ok(bitEqual(w0.get(k)!, w1.get(k)!), k);
  assert.ok(driftOf(h.drift, 'bn').every((v) => v === 0) && driftOf(h.drift, 'backbone').every((v) => v === 0));
  assert.ok(driftOf(h.drift, 'head').slice(1).every((v) => v > 0));
  assert.deepEqual(h.groups.map((g) => g.keys), [['head.kernel', 'head.bias']]);

  const raw = bnNet();
  markFrozen(raw, ['backbone.kernel', 'backbone.bias', 'bn.gamma', 'bn.beta', 'bn.moving_mean', 'bn.moving_variance'], true);
  await assert.rejects(train(raw, { x, y }, { ...base, epochs: 1, batchSize: 8 }), (e: unknown) => e instanceof FrozenWeightError && /bn\.moving_mean/.test(e.message) && !/bn\.gamma/.test(e.message));
  tf.dispose([x, y]);
  model.dispose();
  raw.dispose();
});
