/**
 * modelFromCheckpoint against real PyTorch: whole pickled modules (torch.save(model), generated at
 * test time) of torchvision's classes and of nn.Sequential trees are rebuilt in TF.js, load
 * strictly and give PyTorch's eval outputs; a class with its own forward() and a plain state dict
 * are clear errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { modelFromCheckpoint, rebuildReport, stateDictOf, ModuleRebuildError } from '../../lib';
import { PYTHON, TORCH_FIXTURES, requireTorch } from '../helpers/torch';
import { maxAbsDiff, type RefSpec } from '../helpers/zoo';

requireTorch();
const REF = join(__dirname, '..', 'fixtures', 'zoo', 'zoo_ref.py');

function f32(file: string): Float32Array {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Saves the whole reference module, rebuilds it, and compares keys and eval outputs. */
async function rebuilt(spec: RefSpec & { head?: unknown }, opts: { inputShape?: Array<number | null> } = {}): Promise<{ diff: number; keys: string[]; cls: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-whole-'));
  try {
    const made = JSON.parse(execFileSync(PYTHON, [REF, 'whole', dir, JSON.stringify(spec)], { encoding: 'utf8' })) as { keys: Array<[string, number[]]>; inputShape: number[] };
    const model = await modelFromCheckpoint(join(dir, 'whole.pt'), opts);
    const keys = [...stateDictOf(model, { layout: 'torch' }).entries()].map(([k, t]) => [k, t.shape]);
    assert.deepEqual(keys, made.keys.filter(([k]) => !k.endsWith('num_batches_tracked')), 'rebuilt keys, shapes or order differ from state_dict()');
    assert.equal(rebuildReport(model)?.loaded.length, keys.length);
    const [n, c, h, w] = made.inputShape;
    const y = tf.tidy(() => (model.predict(tf.transpose(tf.tensor4d(f32(join(dir, 'input.f32')), [n, c, h, w]), [0, 2, 3, 1])) as tf.Tensor).dataSync());
    const diff = maxAbsDiff(y, f32(join(dir, 'output.f32')));
    const cls = model.name;
    model.dispose();
    return { diff, keys: keys.map(([k]) => k as string), cls };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('torch.save(resnet18) is rebuilt from its module tree: same keys in order, strict load, PyTorch outputs', async () => {
  const r = await rebuilt({ arch: 'resnet18', kwargs: { num_classes: 5 }, input: [2, 3, 64, 64] });
  assert.ok(r.diff <= 1e-4, `differs by ${r.diff}`);
  assert.equal(r.cls, 'ResNet');
});

test('a ResNet whose fc was replaced by nn.Sequential(Dropout, Linear), and a Bottleneck ResNet, are rebuilt', async () => {
  const r = await rebuilt({ arch: 'ResNet', kwargs: { block: 'bottleneck', layers: [1, 1, 1, 1] }, head: { attr: 'fc', layers: [['Dropout', 0.2], ['Linear', 2048, 4]] }, input: [2, 3, 64, 64] } as RefSpec);
  assert.ok(r.diff <= 1e-4, `differs by ${r.diff}`);
  assert.ok(r.keys.includes('fc.1.weight'));
});

test('torchvision MobileNetV2, MobileNetV3-Small and EfficientNet-B0 pickles are rebuilt (inverted residuals, squeeze-excitation, stochastic depth)', async () => {
  for (const arch of ['mobilenet_v2', 'mobilenet_v3_small', 'efficientnet_b0']) {
    const r = await rebuilt({ arch, kwargs: { num_classes: 4 }, input: [2, 3, 64, 64] });
    assert.ok(r.diff <= 1e-4, `${arch} differs by ${r.diff}`);
  }
});

test('an nn.Sequential tree of standard modules is rebuilt; Flatten before Linear needs the input size, and says so', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-seq-'));
  try {
    const code = `
import sys, torch
from torch import nn
torch.manual_seed(1)
m = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU6(),
                  nn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.Sequential(nn.Conv2d(8, 4, 1, bias=False), nn.Hardswish()),
                  nn.AvgPool2d(2, count_include_pad=False), nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * 4 * 4, 3), nn.GELU())
m.train()
with torch.no_grad():
    for _ in range(3): m(torch.randn(4, 3, 30, 30))
m.eval()
torch.save(m, sys.argv[1] + '/seq.pt')
x = torch.randn(2, 3, 30, 30)
x.numpy().astype('<f4').tofile(sys.argv[1] + '/in.f32')
m(x).detach().numpy().astype('<f4').tofile(sys.argv[1] + '/out.f32')
`;
    execFileSync(PYTHON, ['-c', code, dir]);
    await assert.rejects(modelFromCheckpoint(join(dir, 'seq.pt')), (e: Error) => e instanceof ModuleRebuildError && /inputShape: \[height, width, channels\]/.test(e.message));
    const model = await modelFromCheckpoint(join(dir, 'seq.pt'), { inputShape: [30, 30, 3] });
    const y = tf.tidy(() => (model.predict(tf.transpose(tf.tensor4d(f32(join(dir, 'in.f32')), [2, 3, 30, 30]), [0, 2, 3, 1])) as tf.Tensor).dataSync());
    const d = maxAbsDiff(y, f32(join(dir, 'out.f32')));
    assert.ok(d <= 1e-5, `differs by ${d}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a module with its own forward() and a plain state dict are clear errors that point at the zoo', async () => {
  await assert.rejects(modelFromCheckpoint(join(TORCH_FIXTURES, 'whole_module.pt')), (e: Error) => e instanceof ModuleRebuildError && /__main__\.\w+, a class with its own forward\(\)/.test(e.message) && /loadStateDict/.test(e.message));
  await assert.rejects(modelFromCheckpoint(join(TORCH_FIXTURES, 'state_dict.pt')), (e: Error) => /holds a state dict .*not a whole pickled module/.test(e.message) && /resnet18\(\)/.test(e.message));
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-bad-'));
  try {
    writeFileSync(join(dir, 'note.txt'), 'x');
    execFileSync(PYTHON, ['-c', `import sys, torch\nfrom torch import nn\ntorch.save(nn.Sequential(nn.Conv2d(3, 4, 3, padding_mode='reflect')), sys.argv[1] + '/r.pt')`, dir]);
    await assert.rejects(modelFromCheckpoint(join(dir, 'r.pt')), /padding_mode 'reflect'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
