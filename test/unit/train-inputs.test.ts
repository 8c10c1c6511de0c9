/**
 * The training API for real models: several inputs (an array or a map of tensors, datasets with
 * array or map `xs`), and losses on logits that match PyTorch's F.cross_entropy /
 * F.binary_cross_entropy_with_logits (values and gradients, within 1e-6, large logits included).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { train, type TrainOptions } from '../../lib/train/train';
import { lossOf } from '../../lib/train/losses';
import { weightSlots } from '../../lib/model/weights';
import { python, requireTorch } from '../helpers/torch';

const ready = tf.setBackend('cpu');

/** ids [4] and extra [3] → concat → dense 8 → logits 3. */
function twoInputs(): tf.LayersModel {
  const ids = tf.input({ shape: [4], name: 'ids' });
  const extra = tf.input({ shape: [3], name: 'extra' });
  const cat = tf.layers.concatenate({ name: 'cat' }).apply([ids, extra]) as tf.SymbolicTensor;
  const h = tf.layers.dense({ name: 'body', units: 8, activation: 'relu' }).apply(cat) as tf.SymbolicTensor;
  return tf.model({ inputs: [ids, extra], outputs: tf.layers.dense({ name: 'head', units: 3 }).apply(h) as tf.SymbolicTensor });
}

test('multi-input models: x as an array, as a map (any key order), datasets with array or map xs: the same run', async () => {
  await ready;
  const n = 12;
  const ids = tf.randomNormal([n, 4], 0, 1, 'float32', 1);
  const extra = tf.randomNormal([n, 3], 0, 1, 'float32', 2);
  const y = tf.tensor1d(Array.from({ length: n }, (_, i) => i % 3), 'int32');
  const opts: TrainOptions = { loss: 'sparseCategoricalCrossentropyFromLogits', epochs: 2, batchSize: 4, optimizer: 'adam', lr: 0.01 };
  const first = twoInputs();
  const init = first.getWeights();
  const runWith = async (d: Parameters<typeof train>[1]) => {
    const m = twoInputs();
    m.setWeights(init);
    const h = await train(m, d, opts);
    m.dispose();
    return h.loss;
  };
  const byArray = await runWith({ x: [ids, extra], y });
  assert.deepEqual(await runWith({ x: { extra, ids }, y }), byArray);
  const rows = (from: number) => ({ ids: ids.slice(from, 4), extra: extra.slice(from, 4), ys: y.slice(from, 4) });
  const batches = [0, 4, 8].map(rows);
  const arrayDs = tf.data.array(batches.map((b) => ({ xs: [b.ids, b.extra], ys: b.ys }))) as unknown as tf.data.Dataset<{ xs: tf.Tensor[]; ys: tf.Tensor }>;
  const mapDs = tf.data.array(batches.map((b) => ({ xs: { ids: b.ids, extra: b.extra }, ys: b.ys }))) as unknown as tf.data.Dataset<{ xs: Record<string, tf.Tensor>; ys: tf.Tensor }>;
  const close = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]) < 1e-6);
  assert.ok(close(await runWith(arrayDs), byArray));
  assert.ok(close(await runWith(mapDs), byArray));
  // Clear errors for the wrong names or count.
  const m = twoInputs();
  await assert.rejects(train(m, { x: { ids, mask: extra }, y }, opts), /names 'ids', 'mask' but the model's inputs are 'ids', 'extra' \(missing extra\) \(unknown mask\)/);
  await assert.rejects(train(m, { x: [ids], y }, opts), /data\.x has 1 tensors but the model has 2 inputs \(ids, extra\)/);
  await assert.rejects(train(m, { x: ids, y }, opts), /the model has 2 inputs \(ids, extra\); give data\.x as an array of 2 tensors or a map \{ ids: …, extra: … \}/);
  m.dispose();
  first.dispose();
  tf.dispose([ids, extra, y, ...init, ...batches.flatMap((b) => [b.ids, b.extra, b.ys])]);
});

test('a plain object of variables trains through opts.forward, which gets the inputs in the form the data gave them', async () => {
  await ready;
  const w = { a: tf.variable(tf.randomNormal([2, 1], 0, 1, 'float32', 5)), b: tf.variable(tf.randomNormal([3, 1], 0, 1, 'float32', 6)) };
  const xa = tf.randomNormal([8, 2], 0, 1, 'float32', 7);
  const xb = tf.randomNormal([8, 3], 0, 1, 'float32', 8);
  const y = tf.randomNormal([8, 1], 0, 1, 'float32', 9);
  const seen: string[] = [];
  const h = await train(w, { x: { a: xa, b: xb }, y }, {
    loss: 'meanSquaredError', epochs: 20, batchSize: 8, optimizer: 'sgd', lr: 0.1,
    forward(x) {
      const m = x as Record<string, tf.Tensor>;
      seen.push(Object.keys(m).join(','));
      return tf.add(tf.matMul(m.a, w.a), tf.matMul(m.b, w.b));
    },
  });
  assert.ok(seen.every((s) => s === 'a,b'));
  assert.ok(h.loss[19] < h.loss[0] / 2, `${h.loss[0]} → ${h.loss[19]}`);
  assert.match(h.cache.reason, /runs through opts\.forward/);
  tf.dispose([w.a, w.b, xa, xb, y]);
});

/** Loss values and gradients with respect to the logits, from TF.js and from PyTorch. */
function lossAndGrad(name: Parameters<typeof lossOf>[0], z: number[][], t: number[] | number[][]): { loss: number; grad: number[] } {
  const zt = tf.tensor2d(z);
  const tt = Array.isArray(t[0]) ? tf.tensor2d(t as number[][]) : tf.tensor1d(t as number[], 'int32');
  const f = lossOf(name);
  const { value, grad } = tf.valueAndGrad((logits: tf.Tensor) => f(tt, logits))(zt);
  const out = { loss: value.dataSync()[0], grad: Array.from(grad.dataSync()) };
  tf.dispose([zt, tt, value, grad]);
  return out;
}

const TORCH_LOSSES = `
import json, sys, torch
import torch.nn.functional as F
out = []
for case in json.loads(sys.argv[1]):
    z = torch.tensor(case['z'], dtype=torch.float32, requires_grad=True)
    kind = case['kind']
    if kind == 'sparse':
        loss = F.cross_entropy(z, torch.tensor(case['t'], dtype=torch.long))
    elif kind == 'soft':
        loss = F.cross_entropy(z, torch.tensor(case['t'], dtype=torch.float32))
    else:
        loss = F.binary_cross_entropy_with_logits(z, torch.tensor(case['t'], dtype=torch.float32))
    loss.backward()
    out.append({'loss': loss.item(), 'grad': z.grad.reshape(-1).tolist()})
print(json.dumps(out))
`;

test('losses from logits equal PyTorch F.cross_entropy (class indices and probabilities) and F.binary_cross_entropy_with_logits, values and gradients within 1e-6, with logits up to ±1000', async () => {
  await ready;
  requireTorch();
  let s = 11;
  const rand = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
  const z = Array.from({ length: 6 }, (_, i) => Array.from({ length: 5 }, () => (rand() - 0.5) * (i < 3 ? 8 : i === 3 ? 200 : 2000)));
  const labels = z.map((_, i) => (i * 3) % 5);
  const soft = z.map(() => { const r = Array.from({ length: 5 }, rand); const sum = r.reduce((a, b) => a + b); return r.map((v) => v / sum); });
  const bin = z.map(() => Array.from({ length: 5 }, () => (rand() < 0.5 ? 0 : 1)));
  const cases: Array<[Parameters<typeof lossOf>[0], string, number[] | number[][]]> = [
    ['sparseCategoricalCrossentropyFromLogits', 'sparse', labels],
    ['categoricalCrossentropyFromLogits', 'soft', soft],
    ['binaryCrossentropyFromLogits', 'binary', bin],
  ];
  const refs = JSON.parse(python(TORCH_LOSSES, [JSON.stringify(cases.map(([, kind, t]) => ({ z, t, kind })))])) as Array<{ loss: number; grad: number[] }>;
  for (const [i, [name, , t]] of cases.entries()) {
    const ours = lossAndGrad(name, z, t);
    const ref = refs[i];
    assert.ok(Number.isFinite(ours.loss), `${name}: finite with large logits`);
    assert.ok(Math.abs(ours.loss - ref.loss) <= 1e-6 * Math.max(1, Math.abs(ref.loss)), `${name}: loss ${ours.loss} vs PyTorch ${ref.loss}`);
    ours.grad.forEach((g, i) => assert.ok(Math.abs(g - ref.grad[i]) <= 1e-6, `${name}: grad[${i}] ${g} vs PyTorch ${ref.grad[i]}`));
  }
});

const TORCH_STEP = `
import json, sys, torch
import torch.nn.functional as F
case = json.loads(sys.argv[1])
lin = torch.nn.Linear(4, 3)
with torch.no_grad():
    lin.weight.copy_(torch.tensor(case['kernel'], dtype=torch.float32).t())
    lin.bias.copy_(torch.tensor(case['bias'], dtype=torch.float32))
opt = torch.optim.SGD(lin.parameters(), lr=0.5, momentum=0.9)
x = torch.tensor(case['x'], dtype=torch.float32)
y = torch.tensor(case['y'], dtype=torch.long)
losses = []
for step in range(3):
    opt.zero_grad()
    loss = F.cross_entropy(lin(x), y)
    loss.backward()
    opt.step()
    losses.append(loss.item())
print(json.dumps({'losses': losses, 'kernel': lin.weight.detach().t().reshape(-1).tolist(), 'bias': lin.bias.detach().tolist()}))
`;

test("train() on logits ('sparseCategoricalCrossentropyFromLogits', or fromLogits: true) follows PyTorch's cross_entropy + SGD(momentum) step for step within 1e-6", async () => {
  await ready;
  requireTorch();
  const make = () => tf.sequential({ layers: [tf.layers.dense({ name: 'fc', inputShape: [4], units: 3 })] });
  const model = make();
  const x = tf.randomNormal([10, 4], 0, 2, 'float32', 12);
  const labels = Array.from({ length: 10 }, (_, i) => (i * 2) % 3);
  const y = tf.tensor1d(labels, 'int32');
  const [kernel, bias] = weightSlots(model).map((s) => s.variable.arraySync());
  const ref = JSON.parse(python(TORCH_STEP, [JSON.stringify({ kernel, bias, x: x.arraySync(), y: labels })])) as { losses: number[]; kernel: number[]; bias: number[] };
  const twin = make();
  twin.setWeights(model.getWeights());
  const h = await train(model, { x, y }, { loss: 'sparseCategoricalCrossentropyFromLogits', epochs: 3, batchSize: 10, optimizer: 'sgd', lr: 0.5, momentum: 0.9 });
  const h2 = await train(twin, { x, y }, { loss: 'sparseCategoricalCrossentropy', fromLogits: true, epochs: 3, batchSize: 10, optimizer: 'sgd', lr: 0.5, momentum: 0.9 });
  assert.deepEqual(h2.loss, h.loss);
  h.loss.forEach((l, i) => assert.ok(Math.abs(l - ref.losses[i]) <= 1e-6, `step ${i}: ${l} vs PyTorch ${ref.losses[i]}`));
  const [k, b] = weightSlots(model).map((s) => Array.from(s.variable.dataSync()));
  k.forEach((v, i) => assert.ok(Math.abs(v - ref.kernel[i]) <= 1e-6, `kernel[${i}] ${v} vs ${ref.kernel[i]}`));
  b.forEach((v, i) => assert.ok(Math.abs(v - ref.bias[i]) <= 1e-6, `bias[${i}] ${v} vs ${ref.bias[i]}`));
  await assert.rejects(train(make(), { x, y }, { loss: 'meanSquaredError', fromLogits: true, epochs: 1 }), /fromLogits applies to the cross-entropies, not to 'meanSquaredError'/);
  tf.dispose([x, y]);
  model.dispose();
  twin.dispose();
});
