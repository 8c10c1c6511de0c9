/** Seed 003 §2.3: a checkpoint with model, optimizer state and epoch resumes training exactly. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadStateDict, stateDictOf, weightSlots } from '../../lib';
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from '../../lib/train/resume';
import { python, requireTorch } from '../helpers/torch';

const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-resume-'));

function net(): tf.Sequential {
  return tf.sequential({ layers: [tf.layers.dense({ inputShape: [6], units: 8, activation: 'tanh' }), tf.layers.dense({ units: 3 })] });
}

function data(): { x: tf.Tensor; y: tf.Tensor } {
  const x = tf.tensor2d(Array.from({ length: 32 * 6 }, (_, i) => Math.sin(i * 0.37)), [32, 6]);
  const y = tf.tensor2d(Array.from({ length: 32 * 3 }, (_, i) => Math.cos(i * 0.11)), [32, 3]);
  return { x, y };
}

/** One optimizer step on the model's trainable weights, in their fixed order; returns the loss. */
function step(model: tf.Sequential, opt: tf.Optimizer, x: tf.Tensor, y: tf.Tensor): number {
  const vars = weightSlots(model).filter((s) => s.trainable).map((s) => s.variable);
  const cost = opt.minimize(() => tf.losses.meanSquaredError(y, model.apply(x) as tf.Tensor) as tf.Scalar, true, vars)!;
  const v = cost.dataSync()[0];
  cost.dispose();
  return v;
}

const optimizers: Array<[string, () => tf.Optimizer]> = [
  ['SGD with momentum', () => tf.train.momentum(0.05, 0.9)],
  ['Adam', () => tf.train.adam(0.01)],
  ['RMSProp', () => tf.train.rmsprop(0.01, 0.9, 0.5)],
];

/** Every value of every weight, as float32 bits. */
function bits(model: tf.Sequential): number[][] {
  return weightSlots(model).map((s) => Array.from(new Uint32Array((s.variable.dataSync() as Float32Array).slice().buffer)));
}

for (const [name, makeOpt] of optimizers) {
  test(`${name}: training resumed from a checkpoint gives the uninterrupted run's losses and weights bit for bit`, async () => {
    await tf.setBackend('cpu');
    const { x, y } = data();
    const init = stateDictOf(net());
    const total = 14, cut = 8; // 0.9^9 by powers and by products differ in float32: the resume must replay the products

    const a = net();
    await loadStateDict(a, init, { strict: true });
    const optA = makeOpt();
    const straight = Array.from({ length: total }, () => step(a, optA, x, y));

    const b = net();
    await loadStateDict(b, init, { strict: true });
    const optB = makeOpt();
    for (let i = 0; i < cut; i++) step(b, optB, x, y);
    const file = join(dir, `${name.replace(/\W+/g, '_')}.pth`);
    await saveTrainingCheckpoint(file, b, optB, { epoch: cut, lr: 0.05 });

    const c = net(); // fresh weights, fresh optimizer, other TF.js auto-names
    const optC = makeOpt();
    const { progress, report } = await loadTrainingCheckpoint(file, c, optC);
    assert.equal(progress.epoch, cut);
    assert.equal(report.loaded.length, weightSlots(c).length);
    const resumed = Array.from({ length: total - cut }, () => step(c, optC, x, y));
    resumed.forEach((l, i) => assert.equal(l, straight[cut + i], `step ${cut + i}`));
    assert.deepEqual(bits(c), bits(a), "the resumed weights are the uninterrupted run's, bit for bit");
    // The checkpoint's tensors were copied into the optimizer, not left behind.
    const again = makeOpt();
    const target = net();
    const before = tf.memory().numTensors;
    await loadTrainingCheckpoint(file, target, again);
    const grown = tf.memory().numTensors - before;
    const saved = await again.getWeights();
    assert.equal(grown, saved.length - 1, 'only the optimizer state stays (getWeights adds the iteration count)');
    tf.dispose(saved[0].tensor);
    // Loaded into an optimizer that already has state: the old state is freed, not left behind.
    step(target, again, x, y);
    const held = tf.memory().numTensors;
    await loadTrainingCheckpoint(file, target, again);
    assert.equal(tf.memory().numTensors, held, 'the new state replaces the old');
    // Without the optimizer state the run diverges: the test can tell.
    const e = net();
    await loadTrainingCheckpoint(file, e, makeOpt());
    const fresh = makeOpt();
    const noState = Array.from({ length: total - cut }, () => step(e, fresh, x, y));
    assert.ok(noState.some((l, i) => Math.abs(l - straight[cut + i]) > 1e-5), 'a fresh optimizer would not match');
  });
}

test('a resume checkpoint is the nested dict PyTorch users know', async () => {
  requireTorch();
  await tf.setBackend('cpu');
  const m = net();
  const opt = tf.train.momentum(0.05, 0.9);
  const { x, y } = data();
  step(m, opt, x, y);
  const file = join(dir, 'layout.pth');
  await saveTrainingCheckpoint(file, m, opt, { epoch: 1 });
  const out = python(`import torch,sys\nc=torch.load(sys.argv[1])\nprint(sorted(c.keys()), list(c['model_state_dict'].keys())[:2], len(c['optimizer_state_dict']))`, [file]).trim();
  assert.match(out, /\['epoch', 'model_state_dict', 'optimizer', 'optimizer_state_dict'\] \['0\.kernel', '0\.bias'\] 5/);
});
