/**
 * Schedules users know: Lightning's BackboneFinetuning (unfreeze at an epoch, lr as a ratio of the
 * head's, growing by λ each epoch up to the head's), fastai's freeze_to and gradual unfreezing,
 * discriminative rates (fastai slice(lo, hi)) and layer-wise lr decay (timm).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { train, type TrainOptions } from '../../lib/train/train';
import { backboneFinetuning, gradualUnfreezing } from '../../lib/train/schedules';
import { discriminativeGroups, evenMults, layerDecayGroups } from '../../lib/train/lr-groups';
import { freezeTo } from '../../lib/freeze/freeze-to';
import { freeze } from '../../lib/freeze/freeze';
import { frozenKeys } from '../../lib/freeze/registry';
import { weightSlots } from '../../lib/model/weights';

const ready = tf.setBackend('cpu');

/** b0 → b1 → b2 (a "backbone" of three blocks, BatchNorm in b1) → head. */
function net(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({ name: 'b0', inputShape: [4], units: 6, activation: 'relu' }),
      tf.layers.dense({ name: 'b1', units: 6 }),
      tf.layers.batchNormalization({ name: 'b1bn' }),
      tf.layers.dense({ name: 'b2', units: 6, activation: 'relu' }),
      tf.layers.dense({ name: 'head', units: 3 }),
    ],
  });
}

function data(): { x: tf.Tensor; y: tf.Tensor } {
  return { x: tf.randomNormal([16, 4], 0, 1, 'float32', 1), y: tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 3), 'int32') };
}

const base: TrainOptions = { loss: 'sparseCategoricalCrossentropyFromLogits', batchSize: 8, epochs: 5, optimizer: 'sgd', lr: 0.1, guard: { every: 'step' } };
const backbone = ['b0', 'b1', 'b1bn', 'b2'];
const valuesOf = (m: tf.LayersModel, prefix: string) => weightSlots(m).filter((s) => s.key.startsWith(prefix)).map((s) => Array.from(s.variable.dataSync()));

test("backboneFinetuning (Lightning): frozen until its epoch, then its own group at ratio × the head's lr, × λ per epoch, never above the head's", async () => {
  await ready;
  const d = data();
  const model = net();
  freeze(model, backbone);
  const b0 = valuesOf(model, 'b0');
  const moved: boolean[] = [];
  const h = await train(model, d, {
    ...base,
    callbacks: [
      backboneFinetuning({ backbone, atEpoch: 3, initialRatioLr: 0.1, lambda: () => 2 }),
      { onEpochEnd: (_l, ctx) => { moved.push(JSON.stringify(valuesOf(ctx.model as tf.LayersModel, 'b0')) !== JSON.stringify(b0)); } },
    ],
  });
  assert.deepEqual(moved, [false, false, true, true, true]);
  // Epoch 3: 0.1 × 0.1; epoch 4: 2 × 0.01; epoch 5: 2 × 0.02 = 0.04 (below the head's 0.1).
  assert.deepEqual(h.events.filter((e) => e.kind !== 'cache').map((e) => [e.kind, e.epoch, e.group, e.lr !== undefined ? +e.lr.toPrecision(12) : undefined]), [['unfreeze', 3, 'backbone', 0.01], ['lr', 4, 'backbone', 0.02], ['lr', 5, 'backbone', 0.04]]);
  assert.deepEqual(h.groups.map((g) => [g.name, +g.lr.toPrecision(12)]), [['default', 0.1], ['backbone', 0.04]]);
  assert.ok(h.groups[1].keys.includes('b1bn.gamma'));
  assert.equal(frozenKeys(model).size, 0, 'train_bn: the BatchNorm statistics are no longer frozen');
  // should_align: the backbone's lr stops at the head's.
  const m2 = net();
  freeze(m2, backbone);
  const h2 = await train(m2, d, { ...base, callbacks: [backboneFinetuning({ backbone, atEpoch: 2, initialRatioLr: 0.5, lambda: () => 3, trainBn: false })] });
  assert.deepEqual(h2.events.filter((e) => e.kind !== 'cache').map((e) => +(e.lr ?? 0).toPrecision(12)), [0.05, 0.1], 'epoch 4 and 5 stay at the head\'s 0.1: no change, no event');
  assert.equal(h2.groups[1].lr, 0.1);
  assert.deepEqual([...frozenKeys(m2)], ['b1bn.moving_mean', 'b1bn.moving_variance'], 'trainBn: false keeps the statistics frozen');
  // The backbone must be frozen first, as the callback's setup would have it.
  await assert.rejects(train(net(), d, { ...base, callbacks: [backboneFinetuning({ backbone })] }), /the backbone .* must be frozen when training begins/);
  tf.dispose(d);
  model.dispose();
  m2.dispose();
});

test('freezeTo (fastai freeze_to): groups before n frozen, from n on trainable; negative n counts from the end', async () => {
  await ready;
  const model = net();
  const groups = [['b0'], ['b1', 'b1bn'], ['b2'], ['head']];
  freezeTo(model, groups, -1);
  assert.deepEqual([...frozenKeys(model)].sort(), weightSlots(model).filter((s) => !s.key.startsWith('head')).map((s) => s.key).sort());
  const r = freezeTo(model, groups, 2);
  assert.deepEqual(r.unfrozen, ['b2.kernel', 'b2.bias']);
  assert.deepEqual([...frozenKeys(model)].sort(), weightSlots(model).filter((s) => /^b[01]/.test(s.key)).map((s) => s.key).sort());
  freezeTo(model, groups, 0);
  assert.equal(frozenKeys(model).size, 0);
  model.dispose();
});

test('gradualUnfreezing: the head first, then one more group from the end each epoch, each in its own group', async () => {
  await ready;
  const d = data();
  const model = net();
  const groups = [['b0'], ['b1', 'b1bn'], ['b2'], ['head']];
  freezeTo(model, groups, -1);
  const h = await train(model, d, { ...base, epochs: 4, callbacks: [gradualUnfreezing({ groups, lr: (k) => 0.1 / 10 ** k })] });
  assert.deepEqual(h.events.filter((e) => e.kind === 'unfreeze').map((e) => [e.epoch, e.group, e.lr]), [[2, 'stage1', 0.01], [3, 'stage2', 0.001], [4, 'stage3', 0.0001]]);
  assert.deepEqual(h.groups.map((g) => g.keys), [['head.kernel', 'head.bias'], ['b2.kernel', 'b2.bias'], ['b1.kernel', 'b1.bias', 'b1bn.gamma', 'b1bn.beta'], ['b0.kernel', 'b0.bias']]);
  tf.dispose(d);
  model.dispose();
});

test('discriminative rates (fastai slice): lo…hi geometric over the groups; hi alone gives hi/10 to all but the last', async () => {
  const e = evenMults(1e-5, 1e-3, 3);
  [1e-5, 1e-4, 1e-3].forEach((v, i) => assert.ok(Math.abs(e[i] - v) < v * 1e-12, `${e[i]} vs ${v}`));
  assert.deepEqual(evenMults(1, 8, 1), [8]);
  const groups = discriminativeGroups([['b0'], ['b1'], ['head']], { lo: 1e-4, hi: 1e-2 });
  assert.deepEqual(groups.map((g) => [g.name, g.params, +(g.lr as number).toPrecision(12)]), [['lr_group0', ['b0'], 1e-4], ['lr_group1', ['b1'], 1e-3], ['lr_group2', ['head'], 1e-2]]);
  assert.deepEqual(discriminativeGroups([['b0'], ['b1'], ['head']], { hi: 1e-2 }).map((g) => g.lr), [1e-3, 1e-3, 1e-2]);
  await ready;
  const d = data();
  const model = net();
  const h = await train(model, d, { ...base, epochs: 1, paramGroups: discriminativeGroups([['b0', 'b1', 'b1bn'], ['b2'], ['head']], { lo: 0.001, hi: 0.1 }) });
  assert.deepEqual(h.groups.map((g) => [g.name, +g.lr.toPrecision(12)]), [['lr_group0', 0.001], ['lr_group1', 0.01], ['lr_group2', 0.1]]);
  tf.dispose(d);
  model.dispose();
});

test('layer-wise lr decay (timm param_groups_layer_decay): lr × decay^(L−1−i), no weight decay for rank-1 weights, frozen weights left out', async () => {
  await ready;
  const model = net();
  freeze(model, ['b0']);
  const groups = layerDecayGroups(model, { lr: 1, decay: 0.5, weightDecay: 0.05, layers: [['b0'], ['b1', 'b1bn'], ['b2']] });
  assert.deepEqual(groups.map((g) => [g.name, g.params, g.lr, g.weightDecay]), [
    ['layer_1_decay', ['b1.kernel'], 0.25, 0.05],
    ['layer_1_no_decay', ['b1.bias', 'b1bn.gamma', 'b1bn.beta'], 0.25, 0],
    ['layer_2_decay', ['b2.kernel'], 0.5, 0.05],
    ['layer_2_no_decay', ['b2.bias'], 0.5, 0],
    ['layer_3_decay', ['head.kernel'], 1, 0.05],
    ['layer_3_no_decay', ['head.bias'], 1, 0],
  ]);
  const byFn = layerDecayGroups(model, { lr: 1, decay: 0.5, layers: (k) => (k.startsWith('head') ? 1 : 0), noWeightDecay: 'head.kernel' });
  assert.deepEqual(byFn.map((g) => [g.name, g.lr, g.weightDecay]), [['layer_0_decay', 0.5, 0.05], ['layer_0_no_decay', 0.5, 0], ['layer_1_no_decay', 1, 0]]);
  const d = data();
  const h = await train(model, d, { ...base, epochs: 1, paramGroups: groups });
  assert.deepEqual(h.groups.map((g) => [g.name, g.lr, g.weightDecay]), groups.map((g) => [g.name, g.lr, g.weightDecay]));
  tf.dispose(d);
  model.dispose();
});
