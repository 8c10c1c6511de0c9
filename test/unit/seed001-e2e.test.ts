/**
 * Seed 001's whole recipe in TypeScript, against real PyTorch: load a checkpoint, freeze exactly
 * what was loaded (BatchNorm included), train a new head, prove every frozen value bit-identical,
 * and merge with the original so that PyTorch's strict load accepts the result.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { checkFrozen, fingerprint, freeze, loadStateDict, mergeStateDicts, readCheckpoint, stateDictOf, train, writeCheckpoint } from '../../lib';
import { bytesOf } from '../../lib/statedict/tensor';
import { python, requireTorch } from '../helpers/torch';

const NET = `
import torch, torch.nn as nn
class Net(nn.Module):
    def __init__(s, classes):
        super().__init__()
        s.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten())
        s.head = nn.Linear(4 * 6 * 6, classes)
    def forward(s, x): return s.head(s.features(x))
`;

/** The TF.js mirror of Net, with a head of `classes` outputs. */
function mirror(classes: number): tf.LayersModel {
  const features = tf.sequential({ name: 'features', layers: [
    tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3 }),
    tf.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9 }), tf.layers.reLU(), tf.layers.flatten(),
  ] });
  return tf.sequential({ layers: [features, tf.layers.dense({ units: classes, name: 'head', activation: 'softmax' })] });
}

test('seed 001 end to end: load, freeze what was loaded (BN too), train a new head, frozen values bit-identical, merge restores what PyTorch needs', async () => {
  requireTorch();
  await tf.setBackend('cpu');
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-seed001-'));
  const original = join(dir, 'original.pth');
  // A "pretrained" 3-class net whose BatchNorm has real running statistics.
  python(`${NET}
import sys
torch.manual_seed(0)
m = Net(3); m.train()
for _ in range(5): m(torch.randn(16, 1, 8, 8) * 2 + 1)
torch.save(m.state_dict(), sys.argv[1])`, [original]);

  // A new task with 2 classes: the head's shape differs, so only the backbone loads.
  const model = mirror(2);
  const report = await loadStateDict(model, original, { skipMismatch: true, warn: null });
  assert.deepEqual(report.mismatched.map((m) => m.key), ['head.weight', 'head.bias']);
  assert.ok(report.loaded.includes('features.1.running_mean'));
  const frozen = freeze(model, report.loaded); // freeze exactly what was loaded
  assert.ok(frozen.keys.includes('features.1.moving_variance'), 'BatchNorm statistics are frozen too');

  const before = stateDictOf(model);
  const fp = fingerprint(model);
  const x = tf.randomNormal([64, 8, 8, 1], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: 64 }, (_, i) => i % 2), 'int32'), 2);
  const history = await train(model, { x, y }, {
    loss: 'categoricalCrossentropy', epochs: 3, batchSize: 16, optimizer: 'sgd', lr: 1e-3, momentum: 0.9,
    paramGroups: [{ params: 'head.*', lr: 1e-2 }], guard: { every: 'step' },
  });
  checkFrozen(model, fp);
  const after = stateDictOf(model);
  for (const key of frozen.keys) assert.deepEqual(Buffer.from(bytesOf(after.get(key)!)), Buffer.from(bytesOf(before.get(key)!)), `${key} bit-identical`);
  assert.notDeepEqual(Array.from(after.get('head.kernel')!.data as Float32Array), Array.from(before.get('head.kernel')!.data as Float32Array), 'the head trained');
  assert.ok(history.loss.length === 12);

  // The trained state dict as a BatchNorm without running statistics would save it (track_running_stats=False)...
  const trained = stateDictOf(model, { layout: 'torch' });
  for (const k of [...trained.keys()]) if (/running_|num_batches/.test(k)) trained.delete(k);
  // ...merged with the original fills exactly what it lacks (seed 001 §4.2).
  const orig = (await readCheckpoint(original)).stateDict;
  const merged = mergeStateDicts(trained, orig);
  assert.equal(merged.get('head.weight'), trained.get('head.weight'), 'the trained head wins');
  assert.equal(merged.get('features.1.running_mean'), orig.get('features.1.running_mean'), 'the original statistics fill the gap');
  const out = join(dir, 'final.pth');
  await writeCheckpoint(out, merged);
  const r = python(`${NET}
import sys
m = Net(2)
print(m.load_state_dict(torch.load(sys.argv[1], weights_only=True), strict=True))`, [out]);
  assert.match(r, /All keys matched successfully/);
});
