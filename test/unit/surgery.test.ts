/**
 * Head surgery and input adaptation (seeds 002 and 004): replaceHead keeps the head's key and
 * shares every other weight; adaptInputConv keeps a convolution's response to a grey image when
 * its input channels change (timm's adapt_input_conv rule).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adaptInputConv, freeze, replaceHead, resnet18, stateDictOf, weightSlots, trainableSummary } from '../../lib';
import { frozenKeys } from '../../lib/freeze/registry';
import type { HostTensor } from '../../lib/statedict/tensor';

test('replaceHead(resnet18, 10): fc is new under the same key, the backbone is shared, frozen keys carry over', () => {
  const m = resnet18({ inputShape: [32, 32, 3], numClasses: 1000 });
  freeze(m, /^(?!fc\.)/);
  const n = replaceHead(m, 10);
  const before = stateDictOf(m, { layout: 'torch' });
  const after = stateDictOf(n, { layout: 'torch' });
  assert.deepEqual([...after.keys()], [...before.keys()]);
  assert.deepEqual(after.get('fc.weight')?.shape, [10, 512]);
  assert.deepEqual(after.get('fc.bias')?.shape, [10]);
  const y = n.predict(tf.zeros([1, 32, 32, 3])) as tf.Tensor;
  assert.deepEqual(y.shape, [1, 10]);
  // Shared, not copied: a change through the new model shows in the old one.
  const conv = weightSlots(n).find((s) => s.key === 'conv1.kernel')!;
  const old = weightSlots(m).find((s) => s.key === 'conv1.kernel')!;
  assert.equal(conv.variable, old.variable);
  assert.deepEqual([...frozenKeys(n)].sort(), [...frozenKeys(m)].sort());
  const summary = trainableSummary(n);
  assert.equal(summary.totals.trainable, 512 * 10 + 10);
  // The new head follows PyTorch's Linear initialisation: U(±1/√512).
  const w = after.get('fc.weight')!.data as Float32Array;
  assert.ok(w.every((v) => Math.abs(v) <= 1 / Math.sqrt(512)) && w.some((v) => v !== 0));
});

test('replaceHead finds the classifier behind a softmax, keeps a dotted key (classifier.1), and checks a given layer', () => {
  const input = tf.input({ shape: [8] });
  let x = tf.layers.dense({ name: 'features.0', units: 6 }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.dropout({ name: 'classifier.0', rate: 0.2 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ name: 'classifier.1', units: 4 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.softmax({ name: 'probs' }).apply(x) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: x });
  const n = replaceHead(m, 3);
  assert.deepEqual(weightSlots(n).map((s) => [s.torchKey, s.torchShape]), [['features.0.weight', [6, 8]], ['features.0.bias', [6]], ['classifier.1.weight', [3, 6]], ['classifier.1.bias', [3]]]);
  const p = (n.predict(tf.ones([2, 8])) as tf.Tensor).sum(-1).dataSync();
  assert.ok(Math.abs(p[0] - 1) < 1e-6, 'the softmax after the head is kept');
  assert.throws(() => replaceHead(m, tf.layers.dense({ name: 'head', units: 3 })), /name it 'classifier\.1'/);
  const k = replaceHead(m, (name, inFeatures) => tf.layers.dense({ name, units: inFeatures * 2 }));
  assert.deepEqual(weightSlots(k).find((s) => s.key === 'classifier.1.kernel')?.shape, [6, 12]);
  const seq = tf.sequential({ layers: [tf.layers.dense({ inputShape: [5], units: 4, name: 'body' }), tf.layers.dense({ units: 2, name: 'head' })] });
  assert.deepEqual(weightSlots(replaceHead(seq, 7)).map((s) => s.key), ['body.kernel', 'body.bias', 'head.kernel', 'head.bias']);
});

/** conv(x) with a PyTorch-layout kernel [out, in, kh, kw] on an NHWC image, no bias. */
function respond(kernel: HostTensor, x: tf.Tensor4D): Float32Array {
  return tf.tidy(() => {
    const [o, i, kh, kw] = kernel.shape;
    const k = tf.transpose(tf.tensor4d(kernel.data as Float32Array, [o, i, kh, kw]), [2, 3, 1, 0]) as tf.Tensor4D;
    return tf.conv2d(x, k, 1, 'valid').dataSync() as Float32Array;
  });
}

function close(a: Float32Array, b: Float32Array, tol = 1e-5): void {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  assert.ok(d <= tol, `differs by ${d}`);
}

test("adaptInputConv: 1 channel sums RGB, n channels repeat RGB scaled by 3/n; a grey image's response is unchanged", () => {
  const w: HostTensor = { dtype: 'float32', shape: [4, 3, 3, 3], data: Float32Array.from({ length: 108 }, (_, i) => Math.sin(i * 1.7)) };
  const sd = new Map([['conv1.weight', w], ['fc.weight', { dtype: 'float32' as const, shape: [2, 4], data: new Float32Array(8) }]]);
  const grey = tf.randomNormal([1, 6, 6, 1]) as tf.Tensor4D;
  const rgb = tf.tile(grey, [1, 1, 1, 3]) as tf.Tensor4D;
  const ref = respond(w, rgb);

  const one = adaptInputConv(sd, 'conv1.weight', 1);
  assert.deepEqual(one.get('conv1.weight')?.shape, [4, 1, 3, 3]);
  close(respond(one.get('conv1.weight')!, grey), ref);
  assert.equal(one.get('fc.weight'), sd.get('fc.weight'));
  assert.equal(sd.get('conv1.weight'), w, 'the input state dict is not changed');

  // Six channels (two RGB copies, each scaled by 1/2): a grey image gives the same response.
  const six = adaptInputConv(sd, 'conv1.weight', 6).get('conv1.weight')!;
  assert.deepEqual(six.shape, [4, 6, 3, 3]);
  close(respond(six, tf.tile(grey, [1, 1, 1, 6]) as tf.Tensor4D), ref);
  // Five: R, G, B, R, G, all scaled by 3/5 (timm's rule; exact only for multiples of 3).
  const five = adaptInputConv(sd, 'conv1.weight', 5).get('conv1.weight')!;
  assert.deepEqual(five.shape, [4, 5, 3, 3]);
  const d = five.data as Float32Array;
  const src = w.data as Float32Array;
  for (const [c, from] of [[0, 0], [3, 0], [4, 1], [2, 2]]) assert.ok(Math.abs(d[c * 9] - src[from * 9] * 0.6) < 1e-7, `channel ${c} repeats channel ${from} scaled by 3/5`);

  // TF.js layout [kh, kw, in, out] gives the same kernel.
  const tfjsKernel = tf.transpose(tf.tensor4d(w.data as Float32Array, [4, 3, 3, 3]), [2, 3, 1, 0]);
  const tsd = new Map([['conv1.kernel', { dtype: 'float32' as const, shape: tfjsKernel.shape, data: tfjsKernel.dataSync() as Float32Array }]]);
  const tOne = adaptInputConv(tsd, 'conv1.kernel', 1).get('conv1.kernel')!;
  assert.deepEqual(tOne.shape, [3, 3, 1, 4]);
  close(tf.transpose(tf.tensor4d(tOne.data as Float32Array, [3, 3, 1, 4]), [3, 2, 0, 1]).dataSync() as Float32Array, one.get('conv1.weight')!.data as Float32Array);

  assert.throws(() => adaptInputConv(sd, 'conv2.weight', 1), /no key 'conv2.weight'/);
  assert.throws(() => adaptInputConv(sd, 'fc.weight', 1), /not a 2-D convolution kernel/);
  const four: HostTensor = { dtype: 'float32', shape: [2, 4, 1, 1], data: new Float32Array(8) };
  assert.throws(() => adaptInputConv(new Map([['c.weight', four]]), 'c.weight', 2), /only a 3-channel/);
});

test('a model with an adapted stem loads the adapted state dict strictly (grey-image fine-tuning)', async () => {
  const { loadStateDict } = await import('../../lib');
  const src = resnet18({ inputShape: [32, 32, 3], numClasses: 4 });
  const grey = resnet18({ inputShape: [32, 32, 1], numClasses: 4 });
  const sd = adaptInputConv(stateDictOf(src, { layout: 'torch' }), 'conv1.weight', 1);
  const r = await loadStateDict(grey, sd, { strict: true });
  assert.equal(r.loaded.length, 102);
  const img = tf.randomNormal([1, 32, 32, 1]);
  close((grey.predict(img) as tf.Tensor).dataSync() as Float32Array, (src.predict(tf.tile(img, [1, 1, 1, 3])) as tf.Tensor).dataSync() as Float32Array, 1e-4);
});

test('a grouped-convolution kernel loaded into an ungrouped layer is a clear error that names the key and the groups', async () => {
  const { loadStateDict, torchConv2d, LoadError } = await import('../../lib');
  const input = tf.input({ shape: [8, 8, 8] });
  const m = tf.model({ inputs: input, outputs: torchConv2d({ name: 'conv', filters: 8, kernelSize: 3, padding: 1 }).apply(input) as tf.SymbolicTensor });
  const grouped = new Map([
    ['conv.weight', { dtype: 'float32' as const, shape: [8, 2, 3, 3], data: new Float32Array(144) }],
    ['conv.bias', { dtype: 'float32' as const, shape: [8], data: new Float32Array(8) }],
  ]);
  await assert.rejects(loadStateDict(m, grouped), (e: Error) => e instanceof LoadError && /conv\.weight: checkpoint \[8,2,3,3\] vs model \[8,8,3,3\] \(the checkpoint's convolution looks grouped, groups = 4: build the layer with torchConv2d\(\{ groups: 4 \}\)/.test(e.message));
});
