/**
 * torchvision's VisionTransformer against real PyTorch (Debian's torchvision 0.14): keys in
 * PyTorch's order, strict load, eval outputs within 1e-4 on cpu and the default backend, and the
 * export (q, k, v re-packed into in_proj_weight) loaded back strictly by PyTorch. Parameters that
 * torchvision starts at zero (class token, head, attention biases) are randomised by the reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { LoadError, freeze, loadStateDict, setBackend, stateDictOf, torchMultiheadAttention, visionTransformer, vitB16, weightSlots, type StateDict } from '../../lib';
import { python, requireTorch } from '../helpers/torch';
import { checkParity, maxAbsDiff, tfjsRoundTrip } from '../helpers/zoo';

requireTorch();

const small = { imageSize: 32, patchSize: 8, numLayers: 2, numHeads: 4, hiddenDim: 64, mlpDim: 128 };
const smallTorch = { image_size: 32, patch_size: 8, num_layers: 2, num_heads: 4, hidden_dim: 64, mlp_dim: 128 };

test('a small ViT matches torchvision VisionTransformer (keys, strict load, outputs on cpu and wasm, export)', async (t) => {
  const d = await checkParity({
    spec: { arch: 'VisionTransformer', kwargs: { ...smallTorch, num_classes: 10 }, input: [3, 3, 32, 32] },
    build: () => visionTransformer({ ...small, numClasses: 10 }),
  });
  assert.deepEqual(Object.keys(d).sort(), ['cpu', 'wasm']);
  t.diagnostic(`max |TF.js − PyTorch|: ${JSON.stringify(d)}`);
});

test('ViT with a representation layer (heads.pre_logits + Tanh) and without the head match torchvision', async (t) => {
  const d1 = await checkParity({
    spec: { arch: 'VisionTransformer', kwargs: { ...smallTorch, num_classes: 5, representation_size: 32 }, input: [2, 3, 32, 32] },
    build: () => visionTransformer({ ...small, numClasses: 5, representationSize: 32 }),
    backends: ['auto'],
  });
  t.diagnostic(`representationSize: ${JSON.stringify(d1)}`);
  const m = visionTransformer({ ...small, includeTop: false });
  assert.deepEqual(m.outputs[0].shape, [null, 64]);
  assert.ok(![...stateDictOf(m, { layout: 'torch' }).keys()].some((k) => k.startsWith('heads.')));
  m.dispose();
});

test('nn.MultiheadAttention(batch_first) alone: in_proj_weight split into query, key, value on load and packed back on export', async (t) => {
  const d = await checkParity({
    spec: { arch: 'MultiheadAttention', kwargs: { embed_dim: 32, num_heads: 4 }, input: { float: [2, 7, 32] } },
    build: () => {
      const x = tf.input({ shape: [7, 32] });
      return tf.model({ inputs: x, outputs: torchMultiheadAttention({ name: 'attn', numHeads: 4 }).apply(x) as tf.SymbolicTensor });
    },
  });
  t.diagnostic(`MultiheadAttention: ${JSON.stringify(d)}`);
});

test('TorchMultiheadAttention as cross-attention ([query, key, value]) with a key padding mask matches nn.MultiheadAttention', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-mha-'));
  try {
    const ref = JSON.parse(python(`
import json, sys, torch
torch.manual_seed(5)
m = torch.nn.MultiheadAttention(16, 2, batch_first=True).eval()
with torch.no_grad():
    m.in_proj_bias.normal_(0, 0.1)
    m.out_proj.bias.normal_(0, 0.1)
q, k, v = torch.randn(2, 3, 16), torch.randn(2, 5, 16), torch.randn(2, 5, 16)
pad = torch.tensor([[False] * 5, [False, False, False, True, True]])
with torch.no_grad():
    y = m(q, k, v, key_padding_mask=pad, need_weights=False)[0]
torch.save(m.state_dict(), sys.argv[1])
print(json.dumps({'q': q.tolist(), 'k': k.tolist(), 'v': v.tolist(), 'pad': pad.int().tolist(), 'y': y.flatten().tolist()}))
`, [join(dir, 'mha.pth')])) as { q: number[][][]; k: number[][][]; v: number[][][]; pad: number[][]; y: number[] };
    const inputs = [tf.input({ shape: [3, 16] }), tf.input({ shape: [5, 16] }), tf.input({ shape: [5, 16] }), tf.input({ shape: [5] })];
    const model = tf.model({ inputs, outputs: torchMultiheadAttention({ name: 'attn', numHeads: 2 }).apply(inputs) as tf.SymbolicTensor });
    await loadStateDict(model, join(dir, 'mha.pth'), { strict: true, rename: { addPrefix: 'attn.' } });
    const xs = [tf.tensor(ref.q), tf.tensor(ref.k), tf.tensor(ref.v), tf.tensor(ref.pad)];
    const y = (model.predict(xs) as tf.Tensor).dataSync();
    assert.ok(maxAbsDiff(y, ref.y) < 1e-5, `differs by ${maxAbsDiff(y, ref.y)}`);
    // The padded keys take no part: changing them changes nothing.
    const k2 = tf.tensor(ref.k.map((row) => row.map((key, j) => (j >= 3 ? key.map((e) => e + 100) : key))));
    const y2 = (model.predict([xs[0], k2, xs[2], xs[3]]) as tf.Tensor).arraySync() as number[][][];
    const y1 = tf.tensor(y, [2, 3, 16]).arraySync() as number[][][];
    assert.ok(maxAbsDiff(y2[1].flat(), y1[1].flat()) < 1e-5);
    assert.ok(maxAbsDiff(y2[0].flat(), y1[0].flat()) > 1e-3, 'row 0 has no padding: its keys matter');
    tf.dispose([...xs, k2]);
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a ViT survives TF.js\'s own save and load (its layer classes are registered): same outputs', async () => {
  const m = visionTransformer({ ...small, numLayers: 1, numClasses: 3, representationSize: 16 });
  const back = await tfjsRoundTrip(m);
  const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 3);
  assert.deepEqual((back.predict(x) as tf.Tensor).dataSync(), (m.predict(x) as tf.Tensor).dataSync());
  // Same keys; the order is TF.js's graph order (class_token after conv_proj): orderByCreation does not survive model.save.
  assert.deepEqual([...stateDictOf(back, { layout: 'torch' }).keys()].sort(), [...stateDictOf(m, { layout: 'torch' }).keys()].sort());
  tf.dispose([x]);
  m.dispose();
  back.dispose();
});

test('the packed weights: q, k, v are separate TF.js weights (freezable apart) and in_proj_weight is their exact concatenation', () => {
  const m = visionTransformer({ ...small, numLayers: 1, numClasses: 3 });
  const slots = weightSlots(m).filter((s) => s.layerKey === 'encoder.layers.encoder_layer_0.self_attention');
  assert.deepEqual(slots.map((s) => [s.key.split('.').pop(), s.torchKey.slice(s.layerKey.length + 1), s.pack?.index ?? null]), [
    ['query_kernel', 'in_proj_weight', 0], ['key_kernel', 'in_proj_weight', 1], ['value_kernel', 'in_proj_weight', 2],
    ['query_bias', 'in_proj_bias', 0], ['key_bias', 'in_proj_bias', 1], ['value_bias', 'in_proj_bias', 2],
    ['out_kernel', 'out_proj.weight', null], ['out_bias', 'out_proj.bias', null],
  ]);
  const tfjs = stateDictOf(m);
  const torch = stateDictOf(m, { layout: 'torch' });
  const packed = torch.get('encoder.layers.encoder_layer_0.self_attention.in_proj_weight');
  assert.ok(packed);
  assert.deepEqual(packed.shape, [192, 64]);
  const rows = packed.data as Float32Array;
  ['query', 'key', 'value'].forEach((p, part) => {
    const k = tfjs.get(`encoder.layers.encoder_layer_0.self_attention.${p}_kernel`)?.data as Float32Array; // [in, out]
    for (const [o, i] of [[0, 0], [5, 17], [63, 63]]) assert.equal(rows[(part * 64 + o) * 64 + i], k[i * 64 + o], `${p} row ${o} col ${i}`);
  });
  m.dispose();
});

test('training with the key projections frozen: query and value move, key stays; the export shows it in in_proj_weight\'s rows', async () => {
  for (const backend of ['cpu', 'auto'] as const) {
    await setBackend(backend);
    const m = visionTransformer({ ...small, numLayers: 1, numClasses: 3 });
    const report = freeze(m, ['**.key_kernel', '**.key_bias']);
    assert.deepEqual(report.keys, ['encoder.layers.encoder_layer_0.self_attention.key_kernel', 'encoder.layers.encoder_layer_0.self_attention.key_bias']);
    const before = stateDictOf(m, { layout: 'torch' }).get('encoder.layers.encoder_layer_0.self_attention.in_proj_weight')?.data as Float32Array;
    // Logits: softmax cross-entropy. (torchvision's zero-initialised head passes no gradient back on the first step.)
    m.compile({ optimizer: tf.train.sgd(0.1), loss: (t: tf.Tensor, p: tf.Tensor) => tf.losses.softmaxCrossEntropy(t, p) });
    const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 1);
    const y = tf.oneHot([0, 1, 2, 1], 3);
    await m.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0 });
    const after = stateDictOf(m, { layout: 'torch' }).get('encoder.layers.encoder_layer_0.self_attention.in_proj_weight')?.data as Float32Array;
    const moved = (from: number, to: number) => Math.max(...Array.from(after.subarray(from, to), (v, i) => Math.abs(v - before[from + i])));
    assert.equal(moved(64 * 64, 2 * 64 * 64), 0, `${tf.getBackend()}: the frozen key rows moved`);
    assert.ok(moved(0, 64 * 64) > 1e-6 && moved(2 * 64 * 64, 3 * 64 * 64) > 1e-6, `${tf.getBackend()}: query and value rows must train`);
    tf.dispose([x, y]);
    m.dispose();
  }
  await setBackend('cpu');
});

test('a wrong-shaped in_proj_weight is an error naming the key, and nothing is loaded', async () => {
  const m = visionTransformer({ ...small, numLayers: 1, numClasses: 3 });
  const sd: StateDict = stateDictOf(m, { layout: 'torch' });
  const before = stateDictOf(m);
  const key = 'encoder.layers.encoder_layer_0.self_attention.in_proj_weight';
  sd.set(key, { dtype: 'float32', shape: [128, 64], data: new Float32Array(128 * 64) });
  await assert.rejects(loadStateDict(m, sd, { strict: true }), (e: unknown) => {
    assert.ok(e instanceof LoadError);
    assert.match(e.message, new RegExp(`${key.replace(/\./g, '\\.')}: checkpoint \\[128,64\\] vs model \\[192,64\\]`));
    assert.deepEqual(e.report.mismatched, [{ key, expected: [192, 64], got: [128, 64] }]);
    return true;
  });
  const after = stateDictOf(m);
  for (const [k, t] of before) assert.deepEqual(after.get(k)?.data, t.data, `${k} changed by a failed load`);
  m.dispose();
});

test('checkpoints of torchvision ≤ 0.12 (mlp.linear_1 / mlp.linear_2) load strictly, and the report names the rename', async () => {
  const m = visionTransformer({ ...small, numLayers: 2, numClasses: 3 });
  const fresh = stateDictOf(m, { layout: 'torch' });
  const legacy: StateDict = new Map([...fresh].map(([k, t]) => [k.replace('.mlp.0.', '.mlp.linear_1.').replace('.mlp.3.', '.mlp.linear_2.'), t]));
  assert.ok(legacy.has('encoder.layers.encoder_layer_1.mlp.linear_2.weight'));
  const other = visionTransformer({ ...small, numLayers: 2, numClasses: 3 });
  const report = await loadStateDict(other, legacy, { strict: true });
  assert.equal(report.loaded.length, fresh.size);
  assert.deepEqual(report.renames.map((r) => ('pattern' in r ? String(r.pattern) : r)), ['/\\.mlp\\.linear_1\\./', '/\\.mlp\\.linear_2\\./']);
  assert.deepEqual(stateDictOf(other, { layout: 'torch' }).get('encoder.layers.encoder_layer_1.mlp.3.weight')?.data, fresh.get('encoder.layers.encoder_layer_1.mlp.3.weight')?.data);
  m.dispose();
  other.dispose();
});

test('vitB16 at its real width (86 M parameters, 64 × 64 input): keys, strict load, outputs on wasm', async (t) => {
  // 64 × 64 keeps the forward pass short; the width, depth and every weight but pos_embedding's length are vit_b_16's at 224.
  // The export back to PyTorch is checked on the small models above (344 MB more to write and read here).
  // Built on wasm: tfjs-backend-wasm 4.22 fails ("detached ArrayBuffer") when a tensor moved in from cpu grows its heap.
  await setBackend('auto');
  try {
    const d = await checkParity({
      spec: { arch: 'VisionTransformer', kwargs: { preset: 'vit_b_16', image_size: 64 }, input: [1, 3, 64, 64] },
      build: () => vitB16({ imageSize: 64 }),
      backends: ['auto'],
      export: false,
    });
    t.diagnostic(`vit_b_16 @64: ${JSON.stringify(d)}`);
  } finally {
    await setBackend('cpu');
  }
});

test('vitB16() at 224 × 224 has vit_b_16\'s keys and shapes (86,567,656 parameters)', () => {
  const want = JSON.parse(python(`
import json, torchvision
m = torchvision.models.vit_b_16()
print(json.dumps([[k, list(v.shape)] for k, v in m.state_dict().items()]))
`)) as Array<[string, number[]]>;
  const m = vitB16();
  const got = weightSlots(m);
  const shapes = new Map<string, number[]>();
  for (const s of got) {
    const prev = shapes.get(s.torchKey);
    shapes.set(s.torchKey, prev && s.pack ? [prev[0] + s.torchShape[0], ...prev.slice(1)] : s.torchShape);
  }
  assert.deepEqual([...shapes], want);
  assert.equal(m.countParams(), 86567656);
  m.dispose();
});
