/**
 * stopTraining(): running train() calls stop at their next step boundary, with the weights of
 * their last whole step, and resolve with the partial history (or reject, when asked); a timer
 * runs between steps (the loop yields to the event loop), which is what lets a SIGINT handler in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { train } from '../../lib/train/train';
import { stopTraining, runningTrainCount } from '../../lib/train/stop';
import type { History } from '../../lib/train/history';

const ready = tf.setBackend('cpu');

function setup() {
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 4 }), tf.layers.dense({ units: 1 })] });
  const x = tf.randomNormal([64, 3], 0, 1, 'float32', 5);
  const y = x.sum(1, true);
  return { model, x, y };
}

const snapshot = (m: tf.LayersModel) => JSON.stringify(m.getWeights().map((w) => Array.from(w.dataSync())));

test('a timer stops train() at a step boundary: partial history, weights of the last whole step, nothing after', async () => {
  await ready;
  const { model, x, y } = setup();
  let steps = 0;
  let atLastStep = '';
  const run = train(model, { x, y }, {
    loss: 'meanSquaredError', epochs: 1000, batchSize: 8, lr: 0.01, progress: false,
    onStep: (i) => { steps = i.step; atLastStep = snapshot(model); },
  });
  // A timer can only fire if the loop yields to the event loop between steps.
  let asked = -1;
  setTimeout(() => { asked = steps; void stopTraining(); }, 100);
  const h: History = await run;
  assert.ok(asked > 0, 'the timer ran while training');
  assert.equal(h.stopped, 'interrupted');
  assert.equal(h.steps, steps);
  assert.equal(h.loss.length, steps);
  assert.ok(h.steps <= asked + 1, `stopped at the next boundary: asked after step ${asked}, stopped after ${h.steps}`);
  assert.equal(snapshot(model), atLastStep, 'the weights are those of the last whole step');
  assert.equal(runningTrainCount(), 0);
  const after = snapshot(model);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(snapshot(model), after, 'nothing trains after the run resolved');
  tf.dispose([x, y]);
});

test('stopTraining({ reject }) rejects every running train() with its own error, carrying its history; it resolves to how many were asked', async () => {
  await ready;
  const a = setup();
  const b = setup();
  const opts = { loss: 'meanSquaredError' as const, epochs: 1000, batchSize: 8, lr: 0.01, progress: false as const };
  const runs = [train(a.model, { x: a.x, y: a.y }, opts), train(b.model, { x: b.x, y: b.y }, opts)]
    .map((r) => r.then(() => undefined, (err: Error & { history: History }) => err));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(runningTrainCount(), 2);
  const asked = await stopTraining({ reject: (h) => Object.assign(new Error(`stopped after ${h.steps}`), { history: h }) });
  assert.equal(asked, 2);
  for (const r of runs) {
    const e = await r;
    assert.ok(e, 'train() rejected');
    assert.match(e.message, /^stopped after \d+$/);
    assert.equal(e.history.stopped, 'interrupted');
    assert.equal(e.history.loss.length, e.history.steps);
  }
  assert.equal(await stopTraining(), 0, 'nothing runs any more');
  tf.dispose([a.x, a.y, b.x, b.y]);
});
