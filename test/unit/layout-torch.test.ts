/**
 * The PyTorch layout adapter against real PyTorch, both ways (DESIGN.md, "PyTorch layout adapter").
 *
 * Two nets, each defined in PyTorch (test/fixtures/layout/layout_ref.py) and mirrored here in TF.js:
 * seed 003's LeNet5 (nested nn.Sequential 'conv' and 'fc', Flatten -> Linear whose input rows must go
 * from C,H,W to H,W,C) and a conv + BatchNorm net with non-trivial running statistics.
 *   torch -> TF.js: PyTorch's state_dict loads with loadStateDict(strict) and predict() gives PyTorch's eval outputs.
 *   TF.js -> torch: stateDictOf(model, {layout: 'torch'}) written as .pth loads with torch.load(weights_only=True)
 *                   + load_state_dict(strict=True) and PyTorch's eval outputs are TF.js's.
 * Everything PyTorch makes is made at test time in a temporary directory.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadStateDict, readCheckpoint, stateDictOf, weightSlots, writeCheckpoint } from '../../lib';
import { bytesOf, type HostTensor } from '../../lib/statedict/tensor';
import { PYTHON, requireTorch } from '../helpers/torch';

requireTorch();

const REF = join(__dirname, '..', 'fixtures', 'layout', 'layout_ref.py');
const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-layout-'));
const TOL = 1e-4;

type Net = 'lenet5' | 'convbn';
interface Made { keys: string[]; inputShape: number[]; outputShape: number[] }
interface Checked { keys: string[]; fileKeys: string[]; missing: string[]; unexpected: string[]; outputShape: number[]; numBatchesTracked: Record<string, number> }

function ref(args: string[]): string {
  return execFileSync(PYTHON, [REF, ...args], { encoding: 'utf8' });
}

/** PyTorch's side of torch -> TF.js, made once for both nets (one Python start). */
const made = JSON.parse(ref(['make', dir, 'lenet5', 'convbn'])) as Record<Net, Made>;

function readF32(file: string): Float32Array {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** max |a - b|, after checking that the outputs are not trivially small (a vacuous match). */
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  assert.ok(Array.from(b).some((v) => Math.abs(v) > 0.1), 'reference outputs are all near zero');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const relu = () => tf.layers.reLU();

/** TF.js mirror of seed 003's LeNet5: nested Sequentials 'conv' and 'fc', layers at PyTorch's indices. */
function lenet5(): tf.Sequential {
  const conv = tf.sequential({
    name: 'conv',
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 6, kernelSize: 5, padding: 'same' }), relu(),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
      tf.layers.conv2d({ filters: 16, kernelSize: 5 }), relu(),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
    ],
  });
  const fc = tf.sequential({
    name: 'fc',
    layers: [
      tf.layers.flatten({ inputShape: [5, 5, 16] }),
      tf.layers.dense({ units: 120 }), relu(),
      tf.layers.dense({ units: 84 }), relu(),
      tf.layers.dense({ units: 10 }),
    ],
  });
  return tf.sequential({ layers: [conv, fc] });
}

/** TF.js mirror of the conv + BatchNorm net; BatchNorm with PyTorch's eps (1e-5) and momentum (0.1 -> 0.9). */
function convbn(): tf.Sequential {
  const bn = () => tf.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9 });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [12, 12, 3], filters: 8, kernelSize: 3, padding: 'same' }), bn(), relu(),
      tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2 }), bn(), relu(),
      tf.layers.flatten(),
      tf.layers.dense({ units: 5 }),
    ],
  });
}

const MIRRORS: Record<Net, () => tf.Sequential> = { lenet5, convbn };

/** predict() on an NCHW input (PyTorch's layout), fed to TF.js as NHWC. */
function predictNchw(model: tf.LayersModel, x: Float32Array, nchw: number[]): { data: Float32Array; shape: number[] } {
  return tf.tidy(() => {
    const y = model.predict(tf.tensor(x, nchw).transpose([0, 2, 3, 1])) as tf.Tensor;
    return { data: y.dataSync() as Float32Array, shape: y.shape };
  });
}

/** Seeded, non-trivial values for every weight: LeCun-uniform kernels, non-zero biases, BatchNorm stats away from 0/1. */
function randomize(model: tf.LayersModel, seed: number): void {
  for (const s of weightSlots(model)) {
    const name = s.key.split('.').pop();
    const fanIn = s.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const [lo, hi] =
      name === 'kernel' ? [-Math.sqrt(3 / fanIn), Math.sqrt(3 / fanIn)]
        : name === 'gamma' ? [0.5, 1.5]
          : name === 'moving_mean' ? [-1, 1]
            : name === 'moving_variance' ? [0.5, 2]
              : [-0.3, 0.3];
    const v = tf.randomUniform(s.shape, lo, hi, 'float32', seed++);
    s.write(v);
    v.dispose();
  }
}

const diffs: Record<string, number> = {};

before(async () => {
  await tf.setBackend('cpu');
});

for (const net of ['lenet5', 'convbn'] as const) {
  test(`${net}: torch -> TF.js: PyTorch's state_dict loads strictly and predict() gives PyTorch's eval outputs (< ${TOL})`, async () => {
    const m = made[net];
    const model = MIRRORS[net]();
    const report = await loadStateDict(model, join(dir, `${net}.pt`), { strict: true, warn: null });
    const nbt = m.keys.filter((k) => k.endsWith('.num_batches_tracked'));
    assert.equal(report.layout, 'torch');
    assert.deepEqual(report.loaded, m.keys.filter((k) => !nbt.includes(k)));
    assert.deepEqual(report.ignored, nbt);
    assert.deepEqual([report.missing, report.unexpected, report.mismatched], [[], [], []]);
    assert.equal(report.warning, undefined);
    if (net === 'convbn') assert.equal(nbt.length, 2);

    const y = predictNchw(model, readF32(join(dir, `${net}.input.f32`)), m.inputShape);
    assert.deepEqual(y.shape, m.outputShape);
    const d = maxAbsDiff(y.data, readF32(join(dir, `${net}.output.f32`)));
    diffs[`${net} torch->tfjs`] = d;
    assert.ok(d < TOL, `max |TF.js - PyTorch| = ${d}`);
    model.dispose();
  });

  test(`${net}: TF.js -> torch: stateDictOf(layout torch) as .pth loads with torch.load(weights_only) + load_state_dict(strict=True), same eval outputs (< ${TOL})`, async () => {
    const m = made[net];
    const model = MIRRORS[net]();
    randomize(model, net === 'lenet5' ? 100 : 200);
    const pth = join(dir, `${net}.tfjs.pth`);
    await writeCheckpoint(pth, stateDictOf(model, { layout: 'torch' }));

    const [n, ...chw] = m.inputShape;
    const x = tf.tidy(() => tf.randomNormal([n, ...chw], 0, 1, 'float32', 7).dataSync() as Float32Array);
    const input = join(dir, `${net}.tfjs.input.f32`);
    writeFileSync(input, x);
    const ours = predictNchw(model, x, m.inputShape);

    const c = JSON.parse(ref(['check', net, pth, input, String(n)])) as Checked;
    assert.deepEqual([c.missing, c.unexpected], [[], []]);
    assert.deepEqual(c.keys, m.keys);
    // num_batches_tracked is not exported (no TF.js twin); torch's BatchNorm fills it in with 0 on load.
    assert.deepEqual(c.fileKeys, m.keys.filter((k) => !k.endsWith('.num_batches_tracked')));
    assert.deepEqual(Object.values(c.numBatchesTracked), net === 'convbn' ? [0, 0] : []);
    assert.deepEqual(c.outputShape, ours.shape);
    const d = maxAbsDiff(ours.data, readF32(`${input}.out.f32`));
    diffs[`${net} tfjs->torch`] = d;
    assert.ok(d < TOL, `max |PyTorch - TF.js| = ${d}`);
    model.dispose();
  });

  test(`${net}: stateDictOf(layout torch) has PyTorch's state_dict keys in order, and round-trips PyTorch's tensors bit for bit`, async () => {
    const m = made[net];
    const model = MIRRORS[net]();
    const keys = [...stateDictOf(model, { layout: 'torch' }).keys()];
    assert.deepEqual(keys, m.keys.filter((k) => !k.endsWith('.num_batches_tracked')));

    const ck = await readCheckpoint(join(dir, `${net}.pt`));
    await loadStateDict(model, ck.stateDict, { strict: true, warn: null });
    const back = stateDictOf(model, { layout: 'torch' });
    for (const k of keys) {
      const a = ck.stateDict.get(k) as HostTensor, b = back.get(k) as HostTensor;
      assert.deepEqual(b.shape, a.shape, k);
      assert.equal(b.dtype, a.dtype, k);
      assert.ok(Buffer.from(bytesOf(a)).equals(Buffer.from(bytesOf(b))), `${k} differs after torch -> TF.js -> torch`);
    }
    model.dispose();
  });
}

test('lenet5: the C,H,W -> H,W,C row permutation of fc.1 is what makes outputs match (a plain transpose is far off)', async () => {
  const m = made.lenet5;
  const model = lenet5();
  await loadStateDict(model, join(dir, 'lenet5.pt'), { strict: true, warn: null });
  const ck = await readCheckpoint(join(dir, 'lenet5.pt'));
  const w = ck.stateDict.get('fc.1.weight') as HostTensor;
  const slot = weightSlots(model).find((s) => s.key === 'fc.1.kernel');
  assert.ok(slot);
  assert.deepEqual(slot.torchShape, [120, 400]);
  const plain = tf.tidy(() => tf.tensor(w.data as Float32Array, w.shape).transpose());
  slot.write(plain);
  plain.dispose();
  const y = predictNchw(model, readF32(join(dir, 'lenet5.input.f32')), m.inputShape);
  const d = maxAbsDiff(y.data, readF32(join(dir, 'lenet5.output.f32')));
  diffs['lenet5 plain transpose (negative control)'] = d;
  assert.ok(d > 1e-2, `a plain transpose of fc.1.weight should not match PyTorch, max diff ${d}`);
  model.dispose();
});

test('max abs diffs', () => {
  console.log(`layout-torch max abs diffs: ${JSON.stringify(diffs)}`);
});
