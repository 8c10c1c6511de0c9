/**
 * train()'s callback interface and stopping: the events in order, a callback that stops the run,
 * an AbortSignal, stopTraining() from a timer and from a real SIGINT handler (the loop yields to
 * the event loop between steps), learning rates set by a callback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { train, type TrainOptions } from '../../lib/train/train';
import { runningTrainCount, stopTraining } from '../../lib/train/stop';
import type { Callback } from '../../lib/train/callbacks';
import { terminalProgress } from '../../lib/train/progress';
import { markFrozen } from '../../lib/freeze/registry';
import { weightSlots } from '../../lib/model/weights';
import { backboneHeadNet } from '../helpers/models';

const ready = tf.setBackend('cpu');

function data(n: number): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const x = tf.tidy(() => tf.randomNormal([n, 2], 0, 1, 'float32', 3) as tf.Tensor2D);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % 2), 'int32'), 2) as tf.Tensor2D);
  return { x, y };
}

const base: TrainOptions = { loss: 'categoricalCrossentropy', epochs: 2, batchSize: 4, optimizer: 'sgd', lr: 0.1 };

test('callbacks see the run in order: train begin, epoch begin, batch begin and step per batch, epoch end, train end; onStep/onEpoch options first', async () => {
  await ready;
  const { x, y } = data(8);
  const seen: string[] = [];
  const cb: Callback = {
    name: 'recorder',
    onTrainBegin: (ctx) => { seen.push(`begin ${ctx.epochs}x${ctx.stepsPerEpoch}`); },
    onEpochBegin: (e, ctx) => { seen.push(`epoch ${e} (ctx.epoch ${ctx.epoch})`); },
    onBatchBegin: (b) => { seen.push(`batch ${b.epoch}.${b.batch} step ${b.step} size ${b.size}`); },
    onStep: (s, ctx) => { seen.push(`step ${s.step} (ctx.step ${ctx.step})`); },
    onEpochEnd: (log) => { seen.push(`end epoch ${log.epoch} steps ${log.steps}`); },
    onTrainEnd: ({ history, error }) => { seen.push(`end ${history.steps} ${error === undefined ? 'ok' : 'error'}`); },
  };
  const h = await train(backboneHeadNet(), { x, y }, { ...base, callbacks: [cb], onStep: (s) => { seen.push(`hook step ${s.step}`); }, onEpoch: (l) => { seen.push(`hook epoch ${l.epoch}`); } });
  assert.deepEqual(seen, [
    'begin 2x2',
    'epoch 1 (ctx.epoch 1)', 'batch 1.0 step 1 size 4', 'hook step 1', 'step 1 (ctx.step 1)', 'batch 1.1 step 2 size 4', 'hook step 2', 'step 2 (ctx.step 2)', 'hook epoch 1', 'end epoch 1 steps 2',
    'epoch 2 (ctx.epoch 2)', 'batch 2.0 step 3 size 4', 'hook step 3', 'step 3 (ctx.step 3)', 'batch 2.1 step 4 size 4', 'hook step 4', 'step 4 (ctx.step 4)', 'hook epoch 2', 'end epoch 2 steps 2',
    'end 4 ok',
  ]);
  assert.equal(h.stopped, undefined);
  assert.deepEqual(h.events, []);
  tf.dispose([x, y]);
});

test('a callback stops the run: ctx.stop() at a step (partial epoch, history.stopped "callback"), false from onEpochEnd after an epoch', async () => {
  await ready;
  const { x, y } = data(16);
  const h = await train(backboneHeadNet(), { x, y }, { ...base, epochs: 5, callbacks: [{ onStep: (s, ctx) => { if (s.step === 6) ctx.stop('enough'); } }], metrics: ['accuracy'], validationData: { x, y } });
  assert.equal(h.steps, 6);
  assert.equal(h.stopped, 'callback');
  assert.deepEqual(h.epochs.map((e) => [e.epoch, e.steps, e.partial ?? false]), [[1, 4, false], [2, 2, true]]);
  assert.ok(h.epochs[1].valLoss !== undefined, 'a callback stop still validates the partial epoch');
  assert.deepEqual(h.events.map((e) => [e.kind, e.step, e.message]), [['stop', 6, 'stopping (callback): enough']]);
  // The terminal progress says so.
  let out = '';
  await train(backboneHeadNet(), { x, y }, { ...base, epochs: 5, progress: terminalProgress({ stream: { isTTY: false, write: (t: string) => { out += t; } } }), callbacks: [{ onStep: (s, ctx) => { if (s.step === 2) ctx.stop('enough'); } }] });
  assert.match(out, /\nstopping \(callback\): enough \(step 2, epoch 1\)\nstopped \(callback\): 2 steps in \d+s, loss \d\.\d{4}\n$/);
  const h2 = await train(backboneHeadNet(), { x, y }, { ...base, epochs: 5, callbacks: [{ onEpochEnd: (log) => log.epoch < 2 }] });
  assert.deepEqual([h2.steps, h2.epochs.length, h2.stopped], [8, 2, 'callback']);
  // Asking to stop during the last epoch's end is not an early stop.
  const h3 = await train(backboneHeadNet(), { x, y }, { ...base, epochs: 2, callbacks: [{ onEpochEnd: () => false }] });
  assert.deepEqual([h3.epochs.length, h3.stopped], [1, 'callback']);
  const h4 = await train(backboneHeadNet(), { x, y }, { ...base, epochs: 1, callbacks: [{ onEpochEnd: () => false }] });
  assert.deepEqual([h4.epochs.length, h4.stopped], [1, undefined]);
  tf.dispose([x, y]);
});

test('an AbortSignal stops the run at the next step boundary; an aborted one runs no step', async () => {
  await ready;
  const { x, y } = data(16);
  const ac = new AbortController();
  const h = await train(backboneHeadNet(), { x, y }, { ...base, epochs: 3, signal: ac.signal, onStep: (s) => { if (s.step === 2) ac.abort(new Error('user cancelled')); }, validationData: { x, y } });
  assert.deepEqual([h.steps, h.stopped, h.epochs.length, h.epochs[0].partial], [2, 'aborted', 1, true]);
  assert.equal(h.epochs[0].valLoss, undefined, 'no validation pass after an abort');
  assert.match(h.events[0].message, /stopping \(aborted\): the signal was aborted \(user cancelled\)/);
  const h2 = await train(backboneHeadNet(), { x, y }, { ...base, signal: AbortSignal.abort() });
  assert.deepEqual([h2.steps, h2.stopped, h2.epochs.length, h2.loss.length], [0, 'aborted', 0, 0]);
  tf.dispose([x, y]);
});

test('stopTraining() from a timer stops every running train(): the loop yields to the event loop between steps', async () => {
  await ready;
  const { x, y } = data(8);
  assert.equal(runningTrainCount(), 0);
  let during = 0;
  let asked: Promise<number> | undefined;
  setTimeout(() => {
    during = runningTrainCount();
    asked = stopTraining();
  }, 50);
  const [a, b] = await Promise.all([
    train(backboneHeadNet(), { x, y }, { ...base, epochs: 100000, batchSize: 8 }),
    train(backboneHeadNet(), { x, y }, { ...base, epochs: 100000, batchSize: 8 }),
  ]);
  assert.equal(during, 2);
  assert.equal(await asked, 2, 'stopTraining() resolves, once both stopped, to how many it asked');
  for (const h of [a, b]) {
    assert.equal(h.stopped, 'interrupted');
    assert.ok(h.steps > 0 && h.steps < 100000, `${h.steps} steps`);
    assert.equal(h.loss.length, h.steps);
    assert.equal(h.drift.steps[h.drift.steps.length - 1], h.steps, 'the drift has its last sample');
  }
  assert.equal(runningTrainCount(), 0);
  assert.equal(await stopTraining(), 0, 'nothing left running');
  tf.dispose([x, y]);
});

test('a real SIGINT whose handler calls stopTraining() stops the run within a step (what the kernel does on an interrupt)', async () => {
  await ready;
  const { x, y } = data(8);
  let handled = 0;
  const handler = () => { handled++; void stopTraining({ message: 'SIGINT' }); };
  process.on('SIGINT', handler);
  try {
    let sentAt = 0;
    const h = await train(backboneHeadNet(), { x, y }, { ...base, epochs: 1000, batchSize: 8, onStep: (s) => { if (s.step === 3) { sentAt = s.step; process.kill(process.pid, 'SIGINT'); } } });
    assert.equal(handled, 1);
    assert.equal(h.stopped, 'interrupted');
    assert.ok(h.steps >= sentAt && h.steps <= sentAt + 1, `sent at step ${sentAt}, stopped after ${h.steps}`);
    assert.match(h.events[0].message, /stopping \(interrupted\): SIGINT/);
  } finally {
    process.off('SIGINT', handler);
  }
  tf.dispose([x, y]);
});

test('ctx.setLr: a callback sets the learning rate of a group (0 freezes it in effect); the change is an event and in history.groups', async () => {
  await ready;
  const { x, y } = data(8);
  const model = backboneHeadNet();
  markFrozen(model, ['backbone.kernel', 'backbone.bias'], true);
  const headAt: number[][] = [];
  const h = await train(model, { x, y }, {
    ...base, epochs: 3, batchSize: 8,
    callbacks: [{
      onEpochBegin: (e, ctx) => { if (e === 2) ctx.setLr('default', 0); if (e === 3) ctx.setLr('default', 0.1 * ctx.history.groups.length); },
      onEpochEnd: (_l, ctx) => { headAt.push(Array.from(weightSlots(ctx.model).find((s) => s.key === 'head.kernel')!.variable.dataSync())); },
    }],
  });
  assert.deepEqual(headAt[1], headAt[0], 'lr 0 in epoch 2: the head did not move');
  assert.notDeepEqual(headAt[2], headAt[1]);
  assert.deepEqual(h.events.filter((e) => e.kind !== 'cache').map((e) => [e.kind, e.epoch, e.lr]), [['lr', 2, 0], ['lr', 3, 0.1]]);
  assert.equal(h.groups[0].lr, 0.1);
  await assert.rejects(train(backboneHeadNet(), { x, y }, { ...base, callbacks: [{ onTrainBegin: (ctx) => ctx.setLr('head', 1) }] }), /no parameter group 'head' \(groups: default\)/);
  model.dispose();
  tf.dispose([x, y]);
});

test('wasm: drift skips layers whose storage never changed (exactly 0, not recomputed) and still sees a frozen weight written behind the loop', async () => {
  const { loadWasmBackend } = await import('../../lib/backend/wasm/load');
  const { DriftTracker } = await import('../../lib/train/history');
  loadWasmBackend();
  assert.ok(await tf.setBackend('wasm'));
  try {
    const { x, y } = data(8);
    const model = backboneHeadNet();
    markFrozen(model, ['backbone.kernel', 'backbone.bias'], true);
    const h = await train(model, { x, y }, { ...base, epochs: 2, sampleEvery: 1 });
    assert.ok(h.drift.values.every((row) => row[0] === 0), 'frozen backbone: exactly 0');
    assert.ok(h.drift.values.slice(1).every((row) => row[1] > 0), 'trained head: moved');
    const tracker = new DriftTracker(model);
    tracker.sample(0);
    const s = weightSlots(model).find((w) => w.key === 'backbone.bias')!;
    s.write(tf.tidy(() => tf.add(s.variable, 0.5)));
    tracker.sample(1);
    assert.equal(tracker.drift.values[0][0], 0);
    assert.ok(tracker.drift.values[1][0] > 0, `a write to a frozen weight shows: ${tracker.drift.values[1][0]}`);
    assert.equal(tracker.drift.values[1][1], 0);
    tracker.dispose();
    model.dispose();
    tf.dispose([x, y]);
  } finally {
    await tf.setBackend('cpu');
  }
});
