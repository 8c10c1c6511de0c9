/**
 * TF.js models as state dicts (structural keys) and diffKeys between models, state dicts and
 * checkpoint files: matched, shape-mismatched, one-sided keys, and the renames that fix them.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { diffKeys, readCheckpoint, renameKeys, stateDictOf, weightSlots, type HostTensor, type StateDict } from '../../lib';
import { attentionResNet, bigModel, leNet, seqNet } from '../helpers/models';
import { TORCH_FIXTURES } from '../helpers/torch';

const fixture = (f: string) => join(TORCH_FIXTURES, f);

before(async () => { await tf.setBackend('cpu'); });

/** A float32 tensor of `shape` filled with 0, 1, 2, ... */
function ht(shape: number[]): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', shape, data: Float32Array.from({ length: n }, (_, i) => i) };
}

const SEQ_KEYS = ['0.kernel', '0.bias', '1.gamma', '1.beta', '1.moving_mean', '1.moving_variance', '4.kernel', '4.bias', 'head.fc.kernel', 'head.fc.bias'];

describe('stateDictOf: structural keys', () => {
  it('a Sequential keys unnamed layers by index and named ones by name; a nested model prefixes its weights', () => {
    const m = seqNet();
    assert.deepEqual([...stateDictOf(m).keys()], SEQ_KEYS);
    const torch = stateDictOf(m, { layout: 'torch' });
    assert.deepEqual([...torch.keys()], ['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '4.weight', '4.bias', 'head.fc.weight', 'head.fc.bias']);
    assert.deepEqual(torch.get('0.weight')!.shape, [4, 1, 3, 3]);
    assert.deepEqual(torch.get('4.weight')!.shape, [3, 144]);
    assert.deepEqual(torch.get('head.fc.weight')!.shape, [2, 3]);
  });

  it('keys are the same for two instances of one architecture, whatever TF.js auto-names them', () => {
    const a = seqNet(), b = seqNet();
    assert.notEqual(a.layers[4].name, b.layers[4].name, 'TF.js gives each instance new auto-names');
    assert.deepEqual([...stateDictOf(a).keys()], [...stateDictOf(b).keys()]);
    assert.deepEqual(weightSlots(a).map((s) => s.shape), weightSlots(b).map((s) => s.shape));
    const l1 = leNet(false), l2 = leNet(false);
    assert.deepEqual([...stateDictOf(l1).keys()], [...stateDictOf(l2).keys()]);
  });

  it('a functional model: the input layer takes no index; user names are kept', () => {
    const input = tf.input({ shape: [4] });
    const h = tf.layers.dense({ units: 3 }).apply(input) as tf.SymbolicTensor;
    const h2 = tf.layers.dense({ units: 3, name: 'hidden' }).apply(h) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2 }).apply(h2) as tf.SymbolicTensor;
    const m = tf.model({ inputs: input, outputs: out });
    assert.deepEqual([...stateDictOf(m).keys()], ['0.kernel', '0.bias', 'hidden.kernel', 'hidden.bias', '2.kernel', '2.bias']);
  });

  it('models nested as layers: named (attention_map.*) and unnamed (by index), several levels deep', () => {
    const keys = [...stateDictOf(bigModel()).keys()];
    assert.deepEqual(keys.slice(0, 3), ['attention_map.0.kernel', 'attention_map.0.bias', 'attention_map.1.gamma']);
    assert.ok(keys.includes('attention_map.6.kernel'));
    assert.deepEqual(keys.slice(-4), ['features.kernel', 'features.bias', 'classifier.kernel', 'classifier.bias']);
    const lenet = [...stateDictOf(leNet(false)).keys()];
    assert.deepEqual(lenet, ['conv.0.kernel', 'conv.0.bias', 'conv.3.kernel', 'conv.3.bias', 'fc.1.kernel', 'fc.1.bias', 'fc.3.kernel', 'fc.3.bias', 'fc.5.kernel', 'fc.5.bias']);
    // An unnamed nested Sequential takes its index.
    const inner = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [2] })] });
    const outer = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] }), inner] });
    assert.deepEqual([...stateDictOf(outer).keys()], ['0.kernel', '0.bias', '1.0.kernel', '1.0.bias']);
  });

  it('a plain object of tf.Variables (nested objects and models inside) keys by property path', () => {
    const w = tf.variable(tf.tensor2d([[1, 2], [3, 4]]));
    const b = tf.variable(tf.tensor1d([5, 6]));
    const s = tf.variable(tf.scalar(7));
    const sd = stateDictOf({ encoder: { w, b }, scale: s, net: seqNet() });
    assert.deepEqual([...sd.keys()], ['encoder.w', 'encoder.b', 'scale', ...SEQ_KEYS.map((k) => `net.${k}`)]);
    assert.deepEqual([...sd.get('encoder.w')!.data], [1, 2, 3, 4]);
    assert.deepEqual(sd.get('scale')!.shape, []);
    assert.equal(sd.get('scale')!.data[0], 7);
  });

  it('values are the model\'s, copied to the host; the torch layout transposes them', () => {
    const m = seqNet();
    const sd = stateDictOf(m);
    const kernel = m.layers[4].getWeights()[0];
    assert.deepEqual([...sd.get('4.kernel')!.data], [...kernel.dataSync()]);
    const torch = stateDictOf(m, { layout: 'torch' }).get('head.fc.weight')!;
    const k = m.layers[5].getWeights()[0].arraySync() as number[][]; // [in 3, out 2]
    for (let o = 0; o < 2; o++) for (let i = 0; i < 3; i++) assert.equal(torch.data[o * 3 + i], Math.fround(k[i][o]));
  });
});

describe('diffKeys', () => {
  it('reports matched, shape-mismatched (both shapes), only in A and only in B', async () => {
    const a: StateDict = new Map([['x.weight', ht([2, 3])], ['y.weight', ht([4])], ['only_a.weight', ht([1])]]);
    const b: StateDict = new Map([['x.weight', ht([2, 3])], ['y.weight', ht([5])], ['only_b.bias', ht([7])]]);
    const d = await diffKeys(a, b);
    assert.deepEqual(d.matched, ['x.weight']);
    assert.deepEqual(d.mismatched, [{ key: 'y.weight', a: [4], b: [5] }]);
    assert.deepEqual(d.onlyA, ['only_a.weight']);
    assert.deepEqual(d.onlyB, ['only_b.bias']);
    assert.deepEqual(d.suggestions, []);
    assert.equal(d.layout, 'torch');
  });

  it("finds DataParallel's 'module.' prefix: file vs file", async () => {
    const d = await diffKeys(fixture('dataparallel.pt'), fixture('state_dict.pt'));
    assert.equal(d.matched.length, 0);
    assert.equal(d.onlyA.length, 10);
    assert.equal(d.onlyB.length, 10);
    assert.deepEqual(d.ignored, { a: ['module.1.num_batches_tracked'], b: ['1.num_batches_tracked'] });
    assert.deepEqual(d.suggestions[0].rule, { stripPrefix: 'module.' });
    assert.equal(d.suggestions[0].gain, 10);
    assert.match(d.suggestions[0].code, /renameKeys\(sd, \{"stripPrefix":"module\."\}\)/);
    // The rule does what it says: after it, every key matches.
    const sd = (await readCheckpoint(fixture('dataparallel.pt'))).stateDict;
    const after = await diffKeys(renameKeys(sd, d.suggestions[0].rule), fixture('state_dict.pt'));
    assert.equal(after.matched.length, 10);
    assert.equal(after.onlyA.length + after.onlyB.length + after.mismatched.length, 0);
  });

  it("finds 'module.' between dataparallel.pt and a TF.js mirror model, seen in PyTorch's naming and layout", async () => {
    const d = await diffKeys(fixture('dataparallel.pt'), seqNet());
    assert.equal(d.layout, 'torch');
    assert.deepEqual(d.suggestions[0].rule, { stripPrefix: 'module.' });
    assert.equal(d.suggestions[0].gain, 10); // num_batches_tracked has no TF.js twin
    // The other way round: the model is side A, so the rule adds the prefix.
    const back = await diffKeys(seqNet(), fixture('dataparallel.pt'));
    assert.equal(back.layout, 'torch');
    assert.deepEqual(back.suggestions[0].rule, { addPrefix: 'module.' });
    assert.equal(back.suggestions[0].gain, 10);
  });

  it("finds 'net.' of a wrapped checkpoint", async () => {
    const sd = (await readCheckpoint(fixture('net_wrapped.pt'), { root: '' })).stateDict;
    assert.ok([...sd.keys()].every((k) => k.startsWith('net.')));
    const d = await diffKeys(sd, fixture('state_dict.pt'));
    assert.deepEqual(d.suggestions[0].rule, { stripPrefix: 'net.' });
    assert.equal(d.suggestions[0].gain, 10);
  });

  it("seed 000: a pretrained AttentionResNet's keys lack 'attention_map.'; the bigger model holds it as a submodel", async () => {
    const pretrained = attentionResNet();
    const big = bigModel();
    // Model vs model.
    const d = await diffKeys(pretrained, big);
    assert.equal(d.matched.length, 0);
    assert.deepEqual(d.suggestions[0].rule, { addPrefix: 'attention_map.' });
    assert.equal(d.suggestions[0].gain, weightSlots(pretrained).length);
    assert.match(d.suggestions[0].description, /add the prefix 'attention_map\.'/);
    // State dict vs model, and the reverse (strip).
    const sd = stateDictOf(pretrained);
    assert.deepEqual((await diffKeys(sd, big)).suggestions[0].rule, { addPrefix: 'attention_map.' });
    const rev = await diffKeys(big, pretrained);
    assert.deepEqual(rev.suggestions[0].rule, { stripPrefix: 'attention_map.' });
    assert.equal(rev.suggestions[0].gain, weightSlots(pretrained).length);
  });

  it('seed 003: LeNet5 → LeNet6 matches the first four layers; the changed fc layers do not', async () => {
    const d = await diffKeys(leNet(false), leNet(true));
    assert.deepEqual(d.matched, ['conv.0.kernel', 'conv.0.bias', 'conv.3.kernel', 'conv.3.bias', 'fc.1.kernel', 'fc.1.bias', 'fc.3.kernel', 'fc.3.bias']);
    assert.deepEqual(d.mismatched, [
      { key: 'fc.5.kernel', a: [84, 10], b: [84, 64] },
      { key: 'fc.5.bias', a: [10], b: [64] },
    ]);
    assert.deepEqual(d.onlyA, []);
    assert.deepEqual(d.onlyB, ['fc.7.kernel', 'fc.7.bias']);
    assert.deepEqual(d.suggestions, [], 'no rename can make LeNet5 fit LeNet6');
  });

  it("seed 003 in PyTorch's naming: LeNet5's torch state dict vs a TF.js LeNet6, shapes compared in PyTorch's layout", async () => {
    const sd = stateDictOf(leNet(false), { layout: 'torch' });
    assert.deepEqual(sd.get('conv.3.weight')!.shape, [16, 6, 5, 5]);
    const d = await diffKeys(sd, leNet(true));
    assert.equal(d.layout, 'torch');
    assert.deepEqual(d.matched, ['conv.0.weight', 'conv.0.bias', 'conv.3.weight', 'conv.3.bias', 'fc.1.weight', 'fc.1.bias', 'fc.3.weight', 'fc.3.bias']);
    assert.deepEqual(d.mismatched, [
      { key: 'fc.5.weight', a: [10, 84], b: [64, 84] },
      { key: 'fc.5.bias', a: [10], b: [64] },
    ]);
    assert.deepEqual(d.onlyB, ['fc.7.weight', 'fc.7.bias']);
  });

  it('no common prefix: an explicit key map found by parameter order and shape (PyTorch file vs TF.js model with other names)', async () => {
    // The same net as state_dict.pt, its layers named differently.
    const head = tf.sequential({ name: 'classifier', layers: [tf.layers.dense({ units: 2, name: 'out', inputShape: [3] })] });
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [8, 8, 1], name: 'stem' }),
        tf.layers.batchNormalization({ name: 'norm' }),
        tf.layers.reLU(),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, name: 'hidden' }),
        head,
      ],
    });
    const d = await diffKeys(fixture('state_dict.pt'), m);
    assert.equal(d.layout, 'torch');
    assert.equal(d.matched.length, 0);
    const map = d.suggestions.find((s) => 'map' in s.rule);
    assert.ok(map, JSON.stringify(d.suggestions));
    assert.deepEqual((map.rule as { map: Record<string, string> }).map, {
      '0.weight': 'stem.weight', '0.bias': 'stem.bias',
      '1.weight': 'norm.weight', '1.bias': 'norm.bias', '1.running_mean': 'norm.running_mean', '1.running_var': 'norm.running_var',
      '4.weight': 'hidden.weight', '4.bias': 'hidden.bias',
      'head.fc.weight': 'classifier.out.weight', 'head.fc.bias': 'classifier.out.bias',
    });
    assert.equal(map.gain, 10);
    assert.match(map.code, /^renameKeys\(sd, \{ map: \{/);
  });

  it('a prefix rule first, then a key map for what is left', async () => {
    const a: StateDict = new Map([
      ['module.enc.weight', ht([8, 4])], ['module.enc.bias', ht([8])],
      ['module.dec.weight', ht([4, 8])], ['module.dec.bias', ht([4])],
      ['module.old_head.weight', ht([3, 4])], ['module.old_head.bias', ht([3])],
    ]);
    const b: StateDict = new Map([
      ['enc.weight', ht([8, 4])], ['enc.bias', ht([8])],
      ['dec.weight', ht([4, 8])], ['dec.bias', ht([4])],
      ['head.weight', ht([3, 4])], ['head.bias', ht([3])],
    ]);
    const d = await diffKeys(a, b);
    // Most keys fixed first: the prefix rule then the map; the prefix rule alone next.
    assert.deepEqual(d.suggestions[0].rules, [{ stripPrefix: 'module.' }, { map: { 'old_head.weight': 'head.weight', 'old_head.bias': 'head.bias' } }]);
    assert.equal(d.suggestions[0].gain, 6, 'with the prefix rule first, everything matches');
    assert.match(d.suggestions[0].description, /^strip the prefix 'module\.', then map 2 keys of 1 layer/);
    assert.deepEqual(d.suggestions[1].rules, [{ stripPrefix: 'module.' }]);
    assert.equal(d.suggestions[1].gain, 4);
  });
});
