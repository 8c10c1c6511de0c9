/**
 * Optimizer state follows the weight, not its position: an optimizer reused by train() after a
 * layer was frozen or unfrozen updates each weight with that weight's own momentum (PyTorch's
 * behaviour), where TF.js alone would apply one weight's state to another. And Adam's bias
 * correction survives setWeights exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { train } from '../../lib/train/train';
import { alignOptimizerState, float32Power, restoreBiasCorrection } from '../../lib/train/optimizer-state';
import { freeze, unfreeze } from '../../lib/freeze/freeze';
import { weightSlots } from '../../lib/model/weights';

const ready = tf.setBackend('cpu');

/** Three dense layers of one shape, so that misplaced state fits and goes unnoticed by TF.js. */
function net(): tf.Sequential {
  const init = (seed: number) => tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed });
  return tf.sequential({
    layers: ['a', 'b', 'c'].map((name, i) => tf.layers.dense({ name, units: 4, activation: i < 2 ? 'tanh' : 'linear', kernelInitializer: init(i + 1), biasInitializer: init(i + 11), ...(i === 0 ? { inputShape: [4] } : {}) })),
  });
}

const x = tf.tensor2d(Array.from({ length: 16 * 4 }, (_, i) => Math.sin(i * 0.7)), [16, 4]);
const y = tf.tensor2d(Array.from({ length: 16 * 4 }, (_, i) => Math.cos(i * 0.3)), [16, 4]);

/** The reference: one optimizer per variable, so state can only follow its own weight. */
function referenceRun(model: tf.Sequential, opts: Map<string, tf.Optimizer>, keys: string[], steps: number, make: () => tf.Optimizer): void {
  const slots = weightSlots(model).filter((s) => keys.includes(s.key));
  for (let i = 0; i < steps; i++) {
    const { grads, value } = tf.variableGrads(() => tf.losses.meanSquaredError(y, model.apply(x) as tf.Tensor) as tf.Scalar, slots.map((s) => s.variable));
    for (const s of slots) {
      if (!opts.has(s.key)) opts.set(s.key, make());
      opts.get(s.key)!.applyGradients({ [s.variable.name]: grads[s.variable.name] });
    }
    tf.dispose([value, ...Object.values(grads)]);
  }
}

function values(model: tf.Sequential): Map<string, Float32Array> {
  return new Map(weightSlots(model).map((s) => [s.key, s.variable.dataSync() as Float32Array]));
}

function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let m = 0;
  for (const [k, va] of a) va.forEach((v, i) => (m = Math.max(m, Math.abs(v - b.get(k)![i]))));
  return m;
}

const run = (model: tf.Sequential, optimizer: tf.Optimizer, epochs: number) =>
  train(model, { x, y }, { loss: 'meanSquaredError', epochs, batchSize: 16, optimizer, guard: false, progress: false });

// Adam's bias correction counts the optimizer's steps, not each weight's (PyTorch counts per
// parameter): after sitting out, b is corrected as if it had not, so for Adam the weights are
// compared only up to b's return.
for (const [name, make, exactAfterReturn] of [
  ['Momentum', () => tf.train.momentum(0.05, 0.9), true],
  ['Adam', () => tf.train.adam(0.02), false],
  ['RMSProp (not centered)', () => tf.train.rmsprop(0.01, 0.9, 0.5), true],
] as Array<[string, () => tf.Optimizer, boolean]>) {
  test(`${name} reused by train() after freezing and unfreezing a layer: every weight keeps its own state`, async () => {
    await ready;
    const model = net();
    const ref = net();
    const opt = make();
    const refOpts = new Map<string, tf.Optimizer>();
    const all = weightSlots(model).map((s) => s.key);

    const h1 = await run(model, opt, 3);
    referenceRun(ref, refOpts, all, 3, make);
    assert.equal(h1.groups[0].state, undefined, 'a fresh optimizer needs no matching');

    freeze(model, 'b.*');
    const h2 = await run(model, opt, 3);
    referenceRun(ref, refOpts, all.filter((k) => !k.startsWith('b.')), 3, make);
    assert.deepEqual(h2.groups[0].state, { moved: 2, fresh: 0, setAside: 2 }, 'c moved up two places; b set aside');
    assert.ok(maxDiff(values(model), values(ref)) < 1e-6, `after freezing b: ${maxDiff(values(model), values(ref))}`);

    unfreeze(model, 'b.*');
    const h3 = await run(model, opt, 2);
    referenceRun(ref, refOpts, all, 2, make);
    assert.deepEqual(h3.groups[0].state, { moved: 4, fresh: 0, setAside: 0 }, 'b comes back with its own state');
    if (exactAfterReturn) assert.ok(maxDiff(values(model), values(ref)) < 1e-6, `after unfreezing b: ${maxDiff(values(model), values(ref))}`);
    // Only the state the optimizer keeps: a plain RMSProp has no mean gradients to invent.
    const weights = await opt.getWeights();
    assert.equal(weights.length - 1, (name === 'Momentum' ? 1 : 2) * all.length);
    tf.dispose(weights[0].tensor); // the iteration count getWeights made
    const meanGrads = (opt as unknown as { accumulatedMeanGrads?: unknown[] }).accumulatedMeanGrads;
    if (meanGrads) assert.equal(meanGrads.length, 0);
  });
}

test('without the matching, TF.js applies b’s momentum to c (the reference can tell the difference)', async () => {
  await ready;
  const model = net();
  const ref = net();
  const opt = tf.train.momentum(0.05, 0.9);
  const refOpts = new Map<string, tf.Optimizer>();
  const all = weightSlots(model).map((s) => s.key);
  await run(model, opt, 3);
  referenceRun(ref, refOpts, all, 3, () => tf.train.momentum(0.05, 0.9));
  // TF.js's own positional behaviour: a plain minimize over a, c.
  const kept = weightSlots(model).filter((s) => !s.key.startsWith('b.')).map((s) => s.variable);
  for (let i = 0; i < 3; i++) tf.dispose(opt.minimize(() => tf.losses.meanSquaredError(y, model.apply(x) as tf.Tensor) as tf.Scalar, true, kept));
  referenceRun(ref, refOpts, all.filter((k) => !k.startsWith('b.')), 3, () => tf.train.momentum(0.05, 0.9));
  assert.ok(maxDiff(values(model), values(ref)) > 1e-3, 'positional state gives other weights');
});

test('a weight new to the optimizer starts from fresh state; an unchanged set is left as it is', async () => {
  await ready;
  const model = net();
  freeze(model, 'a.*');
  const opt = tf.train.adagrad(0.1, 0.25);
  await run(model, opt, 1);
  const vars = weightSlots(model).map((s) => s.variable);
  const before = tf.memory().numTensors;
  const r = alignOptimizerState(opt, vars);
  assert.deepEqual(r, { moved: 4, fresh: 2, setAside: 0 });
  assert.equal(tf.memory().numTensors - before, 2, 'one accumulator each for a.kernel and a.bias');
  const state = (opt as unknown as { accumulatedGrads: Array<{ originalName: string; variable: tf.Variable }> }).accumulatedGrads;
  assert.deepEqual(state.map((e) => e.originalName), vars.map((v) => `${v.name}/accumulator`));
  assert.deepEqual(Array.from(state[0].variable.dataSync()), new Array(16).fill(0.25), "fresh Adagrad state is its initial accumulator value");
  assert.deepEqual(alignOptimizerState(opt, vars), { moved: 0, fresh: 0, setAside: 0 });
});

test('an optimizer class of unknown layout: fine while in order, a clear error when its state would land on other weights', async () => {
  await ready;
  class Plain extends tf.Optimizer {
    slots: Array<{ originalName: string; variable: tf.Variable }> = [];
    applyGradients(): void {}
    async getWeights(): Promise<tf.NamedTensor[]> { return []; }
    async setWeights(): Promise<void> {}
    getConfig(): tf.serialization.ConfigDict { return {}; }
  }
  const model = net();
  const vars = weightSlots(model).map((s) => s.variable);
  const opt = new Plain();
  opt.slots = vars.map((v) => ({ originalName: `${v.name}/s`, variable: v }));
  assert.deepEqual(alignOptimizerState(opt, vars), { moved: 0, fresh: 0, setAside: 0 });
  assert.throws(() => alignOptimizerState(opt, vars.slice(2)), /state \(slots\) for weights in another order.*Pass a new optimizer/);
});

test("restoreBiasCorrection: after setWeights, Adam's β powers are the uninterrupted run's, bit for bit", async () => {
  await ready;
  const v = tf.variable(tf.tensor1d([1, -2, 3]));
  const opt = tf.train.adam(0.01, 0.9, 0.999);
  type Powers = { accBeta1: tf.Variable; accBeta2: tf.Variable };
  const powers = (o: tf.Optimizer) => [(o as unknown as Powers).accBeta1.dataSync()[0], (o as unknown as Powers).accBeta2.dataSync()[0]];
  let differedWithoutIt = false;
  for (let step = 1; step <= 40; step++) {
    tf.dispose(opt.minimize(() => tf.sum(tf.square(v)), true, [v]));
    if (step % 8 !== 0) continue;
    const copy = tf.train.adam(0.01, 0.9, 0.999);
    const w = await opt.getWeights();
    await copy.setWeights(w);
    if (powers(copy).some((p, i) => p !== powers(opt)[i])) differedWithoutIt = true;
    restoreBiasCorrection(copy);
    assert.deepEqual(powers(copy), powers(opt), `after ${step} steps`);
    assert.equal(powers(opt)[0], float32Power(0.9, step + 1));
    copy.dispose();
  }
  assert.ok(differedWithoutIt, "TF.js's own setWeights differs in the last bits at some step (else this test proves nothing)");
});
