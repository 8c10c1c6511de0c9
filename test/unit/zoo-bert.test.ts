/**
 * Hugging Face's BertModel against a plain-PyTorch reference with HF's names and semantics
 * (test/fixtures/zoo/zoo_ref.py BertRef; Debian has no transformers): keys in HF's order, strict
 * load, last hidden state and pooled output within 1e-4 on cpu and the default backend, with a
 * padding attention mask and token types, and the export loaded back strictly by PyTorch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { bertConfigFromJson, bertEncoder, loadStateDict, setBackend, stateDictOf } from '../../lib';
import { python, requireTorch } from '../helpers/torch';
import { checkParity, tfjsRoundTrip } from '../helpers/zoo';

requireTorch();

const small = { vocabSize: 100, hiddenSize: 64, numHiddenLayers: 2, numAttentionHeads: 4, intermediateSize: 128, maxPositionEmbeddings: 40, typeVocabSize: 2 };
const smallTorch = { vocab_size: 100, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 128, max_position_embeddings: 40, type_vocab_size: 2 };

test('BERT with a padding mask and token types matches HF BertModel semantics (last hidden state and pooled output, cpu and wasm, export)', async (t) => {
  const d = await checkParity({
    spec: { arch: 'BertModel', kwargs: smallTorch, input: { ids: [3, 12], vocab: 100, attentionMask: true, tokenTypes: 2, feed: ['input_ids', 'attention_mask', 'token_type_ids'] } },
    build: () => bertEncoder({ ...small, inputs: ['input_ids', 'attention_mask', 'token_type_ids'] }),
  });
  assert.deepEqual(Object.keys(d).sort(), ['cpu', 'wasm']);
  t.diagnostic(`max |TF.js − PyTorch| (both outputs): ${JSON.stringify(d)}`);
});

test('BERT without the pooler, ids and token types only (no mask: every token attended), gelu_new, layerNormEps 1e-5', async (t) => {
  const d = await checkParity({
    spec: { arch: 'BertModel', kwargs: { ...smallTorch, add_pooling_layer: false, hidden_act: 'gelu_new', layer_norm_eps: 1e-5 }, input: { ids: [2, 9], vocab: 100, tokenTypes: 2, feed: ['token_type_ids', 'input_ids'] } },
    build: () => bertEncoder({ ...small, addPoolingLayer: false, hiddenAct: 'gelu_new', layerNormEps: 1e-5, inputs: ['token_type_ids', 'input_ids'] }),
  });
  t.diagnostic(`no pooler: ${JSON.stringify(d)}`);
});

test('bertEncoder() defaults are bert-base (BertConfig defaults); config.json fields map by bertConfigFromJson', () => {
  const cfg = bertConfigFromJson({ architectures: ['BertForMaskedLM'], vocab_size: 50, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 48, max_position_embeddings: 16, type_vocab_size: 3, hidden_act: 'gelu', layer_norm_eps: 1e-12, model_type: 'bert' });
  assert.deepEqual(cfg, { vocabSize: 50, hiddenSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 48, maxPositionEmbeddings: 16, typeVocabSize: 3, hiddenAct: 'gelu', layerNormEps: 1e-12 });
  const m = bertEncoder(cfg);
  const shapes = new Map([...stateDictOf(m, { layout: 'torch' })].map(([k, v]) => [k, v.shape]));
  assert.deepEqual(shapes.get('embeddings.word_embeddings.weight'), [50, 32]);
  assert.deepEqual(shapes.get('embeddings.token_type_embeddings.weight'), [3, 32]);
  assert.deepEqual(shapes.get('encoder.layer.0.intermediate.dense.weight'), [48, 32]);
  assert.equal(shapes.has('encoder.layer.1.output.dense.weight'), false);
  assert.equal(m.outputs.length, 2);
  m.dispose();
  // 109,482,240 parameters: bert-base-uncased's BertModel.
  const base = bertEncoder({ sequenceLength: 8 });
  assert.equal(base.countParams(), 109482240);
  base.dispose();
});

test('BERT fine-tunes on cpu and wasm: a classifier on the pooled output trains the embeddings and the encoder through the mask', async () => {
  for (const backend of ['cpu', 'auto'] as const) {
    await setBackend(backend);
    const bert = bertEncoder({ ...small, inputs: ['input_ids', 'attention_mask'] });
    const [, pooled] = bert.outputs;
    const logits = tf.layers.dense({ name: 'classifier', units: 2 }).apply(pooled) as tf.SymbolicTensor;
    const clf = tf.model({ inputs: bert.inputs, outputs: logits });
    clf.compile({ optimizer: tf.train.adam(1e-3), loss: (t: tf.Tensor, p: tf.Tensor) => tf.losses.softmaxCrossEntropy(t, p) });
    const before = stateDictOf(bert);
    const ids = tf.tensor2d([[5, 6, 7, 0], [8, 9, 0, 0]], [2, 4], 'int32');
    const mask = tf.tensor2d([[1, 1, 1, 0], [1, 1, 0, 0]], [2, 4], 'int32');
    const h = await clf.fit([ids, mask], tf.oneHot([0, 1], 2), { epochs: 3, verbose: 0 });
    const losses = h.history.loss as number[];
    assert.ok(losses.every(Number.isFinite) && losses[2] < losses[0], `${tf.getBackend()}: loss ${losses}`);
    const after = stateDictOf(bert);
    const moved = (k: string, row?: number) => {
      const [a, b] = [after.get(k)?.data as Float32Array, before.get(k)?.data as Float32Array];
      const [from, to] = row === undefined ? [0, a.length] : [row * 64, row * 64 + 64];
      let d = 0;
      for (let i = from; i < to; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
      return d;
    };
    assert.ok(moved('embeddings.word_embeddings.embeddings', 5) > 0, 'a seen token\'s embedding trains');
    assert.equal(moved('embeddings.word_embeddings.embeddings', 42), 0, 'an unseen token\'s embedding does not');
    assert.ok(moved('encoder.layer.1.attention.self.query.kernel') > 0);
    clf.dispose();
  }
  await setBackend('cpu');
});

test('BERT survives TF.js\'s own save and load: same outputs for ids and mask', async () => {
  const m = bertEncoder({ ...small, inputs: ['input_ids', 'attention_mask'] });
  const back = await tfjsRoundTrip(m);
  const xs = [tf.tensor2d([[1, 2, 3], [4, 0, 0]], [2, 3], 'int32'), tf.tensor2d([[1, 1, 1], [1, 0, 0]], [2, 3], 'int32')];
  const [a, b] = [m.predict(xs) as tf.Tensor[], back.predict(xs) as tf.Tensor[]];
  assert.equal(b.length, 2);
  a.forEach((t, i) => assert.deepEqual(b[i].dataSync(), t.dataSync()));
  tf.dispose([...xs, ...a, ...b]);
  m.dispose();
  back.dispose();
});

test('bertEncoder rejects what BertModel cannot be, with what to do', async () => {
  assert.throws(() => bertEncoder({ ...small, hiddenAct: 'quick_gelu' }), /hiddenAct "quick_gelu" is not supported \(known: gelu, gelu_python, gelu_new/);
  assert.throws(() => bertEncoder({ ...small, numAttentionHeads: 5 }), /hiddenSize \(64\) must be a multiple of numAttentionHeads \(5\)/);
  assert.throws(() => bertEncoder({ ...small, positionEmbeddingType: 'relative_key' }), /positionEmbeddingType "relative_key" is not supported/);
  assert.throws(() => bertEncoder({ ...small, inputs: ['attention_mask'] }), /inputs must list 'input_ids'/);
  const m = bertEncoder({ ...small, addPoolingLayer: false });
  assert.throws(() => m.predict(tf.ones([1, 41], 'int32')), /a sequence of 41 tokens exceeds maxPositions \(40, BertConfig.max_position_embeddings\)/);
  m.dispose();
});

test('checkpoint variants: a BertForX file (bert. prefix, LayerNorm gamma/beta, position_ids buffer of transformers 3.1–4.30, cls head) loads, and the report says how', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-bert-'));
  try {
    const file = join(dir, 'old.pth');
    python(`
import sys, torch
sys.path.insert(0, sys.argv[2])
from zoo_ref import BertRef
torch.manual_seed(0)
m = BertRef(vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, max_position_embeddings=40)
sd = {}
for k, v in m.state_dict().items():
    if k == 'embeddings.word_embeddings.weight':
        sd['bert.embeddings.position_ids'] = torch.arange(40).expand((1, -1))
    sd['bert.' + k.replace('LayerNorm.weight', 'LayerNorm.gamma').replace('LayerNorm.bias', 'LayerNorm.beta')] = v
sd['cls.predictions.bias'] = torch.zeros(100)
torch.save(sd, sys.argv[1])
torch.save({k: v for k, v in m.state_dict().items()} | {'embeddings.position_ids': torch.arange(40).expand((1, -1))}, sys.argv[1] + '.430')
print(float(m.encoder.layer[1].output.LayerNorm.weight[3]))
`, [file, join(__dirname, '..', 'fixtures', 'zoo')]);
    const m = bertEncoder(small);
    const r = await loadStateDict(m, file, { warn: null });
    assert.equal(r.loaded.length, 39);
    assert.deepEqual(r.missing, []);
    assert.deepEqual(r.unexpected, ['cls.predictions.bias']);
    assert.deepEqual(r.ignored, ['bert.embeddings.position_ids']);
    assert.deepEqual(r.renames.map((x) => ('stripPrefix' in x ? x.stripPrefix : 'pattern' in x ? x.replacement : x)), ['bert.', '.LayerNorm.weight', '.LayerNorm.bias']);
    // HF ≤ 4.30's own BertModel state dict: strict, position_ids ignored and reported, no rename.
    const m2 = bertEncoder(small);
    const r2 = await loadStateDict(m2, `${file}.430`, { strict: true });
    assert.deepEqual([r2.loaded.length, r2.ignored, r2.renames], [39, ['embeddings.position_ids'], []]);
    const a = stateDictOf(m, { layout: 'torch' });
    const b = stateDictOf(m2, { layout: 'torch' });
    for (const [k, v] of b) assert.deepEqual(a.get(k)?.data, v.data, k);
    assert.ok(!a.has('embeddings.position_ids'), 'the export leaves the buffer out, as transformers ≥ 4.31 does');
    m.dispose();
    m2.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
