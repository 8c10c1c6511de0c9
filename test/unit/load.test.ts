/**
 * loadStateDict: the load report, strict loads, loud warnings for loads that take little or
 * nothing (seed 000's bug), shape mismatches that never half-load, and `map: 'auto'`.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { LoadError, loadStateDict, readCheckpoint, renameKeys, stateDictOf, weightSlots, type HostTensor, type LoadReport, type StateDict } from '../../lib';
import { attentionResNet, bigModel, leNet, seqNet } from '../helpers/models';
import { TORCH_FIXTURES, expectedOf, hexOf, python, requireTorch } from '../helpers/torch';

const fixture = (f: string) => join(TORCH_FIXTURES, f);

before(async () => { await tf.setBackend('cpu'); });

/** Every weight's values, by key. */
function snapshot(model: Parameters<typeof weightSlots>[0]): Map<string, number[]> {
  return new Map(weightSlots(model).map((s) => { const t = s.read(); const v = [...t.dataSync()]; t.dispose(); return [s.key, v]; }));
}

/** A state dict whose every value is distinct from a fresh model's (so a load is visible). */
function filled(sd: StateDict, base: number): StateDict {
  return new Map([...sd].map(([k, t], i): [string, HostTensor] => [k, { dtype: 'float32', shape: t.shape, data: Float32Array.from(t.data as Float32Array, (_, j) => base + i + j * 1e-3) }]));
}

/** Collects warnings. */
function warnings(): { warn: (m: string) => void; messages: string[] } {
  const messages: string[] = [];
  return { warn: (m) => messages.push(m), messages };
}

describe('loadStateDict: the load report', () => {
  it("state_dict.pt into its TF.js mirror: every weight loaded, num_batches_tracked ignored, values in PyTorch's layout equal the file's", async () => {
    const m = seqNet();
    const w = warnings();
    const r = await loadStateDict(m, fixture('state_dict.pt'), { warn: w.warn, strict: true });
    assert.deepEqual(r.loaded, ['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '4.weight', '4.bias', 'head.fc.weight', 'head.fc.bias']);
    assert.deepEqual(r.missing, []);
    assert.deepEqual(r.unexpected, []);
    assert.deepEqual(r.mismatched, []);
    assert.deepEqual(r.ignored, ['1.num_batches_tracked']);
    assert.equal(r.layout, 'torch');
    assert.deepEqual(r.renames, []);
    assert.equal(r.warning, undefined);
    assert.deepEqual(w.messages, []);
    const expected = expectedOf('state_dict.pt');
    const back = stateDictOf(m, { layout: 'torch' });
    for (const [key, t] of back) assert.equal(hexOf(t), expected.tensors[key].hex, key);
  });

  it("the loaded mirror gives PyTorch's outputs (conv layout, BN statistics, Flatten row order)", () => {
    requireTorch();
    const code = `
import sys, json, collections, torch, torch.nn as nn
net = nn.Sequential(nn.Conv2d(1,4,3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(144,3))
net.add_module('head', nn.Sequential(collections.OrderedDict(fc=nn.Linear(3,2))))
net.load_state_dict(torch.load(sys.argv[1])); net.eval()
x = torch.arange(128, dtype=torch.float32).reshape(2,1,8,8) / 64 - 1
print(json.dumps(net(x).tolist()))`;
    const want = JSON.parse(python(code, [fixture('state_dict.pt')])) as number[][];
    return (async () => {
      const m = seqNet();
      await loadStateDict(m, fixture('state_dict.pt'), { strict: true });
      const x = tf.tensor4d(Float32Array.from({ length: 128 }, (_, i) => i / 64 - 1), [2, 8, 8, 1]);
      const got = (m.predict(x) as tf.Tensor).arraySync() as number[][];
      got.flat().forEach((v, i) => assert.ok(Math.abs(v - want.flat()[i]) < 1e-4, `output ${i}: ${v} vs ${want.flat()[i]}`));
    })();
  });

  it('loads a TF.js-named state dict (another instance of the same architecture) and a plain object of variables', async () => {
    const src = seqNet(), dst = seqNet();
    const sd = filled(stateDictOf(src), 10);
    const r = await loadStateDict(dst, sd, { strict: true });
    assert.equal(r.layout, 'tfjs');
    assert.equal(r.loaded.length, 10);
    assert.deepEqual([...stateDictOf(dst)].map(([k, t]) => [k, [...t.data]]), [...sd].map(([k, t]) => [k, [...t.data]]));

    const vars = { w: tf.variable(tf.zeros([2, 2])), enc: { b: tf.variable(tf.zeros([3])) } };
    const vr = await loadStateDict(vars, new Map<string, HostTensor>([['w', { dtype: 'float32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }], ['enc.b', { dtype: 'float32', shape: [3], data: Float32Array.of(5, 6, 7) }]]), { strict: true });
    assert.deepEqual(vr.loaded, ['w', 'enc.b']);
    assert.deepEqual([...vars.w.dataSync()], [1, 2, 3, 4]);
    assert.deepEqual([...vars.enc.b.dataSync()], [5, 6, 7]);
  });

  it("copies: changing the source's arrays afterwards does not change the model (as PyTorch's copy_)", async () => {
    const vars = { w: tf.variable(tf.zeros([2])), bn: seqNet() };
    const src = (await readCheckpoint(fixture('state_dict.pt'))).stateDict;
    const sd: StateDict = new Map([['w', { dtype: 'float32', shape: [2], data: Float32Array.of(1, 2) }], ...[...src].map(([k, t]): [string, HostTensor] => [`bn.${k}`, t])]);
    await loadStateDict(vars, sd, { from: 'torch' });
    const before = snapshot(vars);
    for (const t of sd.values()) if (t.dtype === 'float32') (t.data as Float32Array).fill(42);
    assert.deepEqual(snapshot(vars), before);
    assert.deepEqual([...vars.w.dataSync()], [1, 2]);
  });

  it('resume.pt: the reader picks model_state_dict; `root` picks a sub-tree explicitly', async () => {
    const r = await loadStateDict(seqNet(), fixture('resume.pt'), { strict: true });
    assert.equal(r.loaded.length, 10);
    const r2 = await loadStateDict(seqNet(), fixture('net_wrapped.pt'), { root: 'net', strict: true });
    assert.equal(r2.loaded.length, 10);
  });
});

describe('loadStateDict: strict', () => {
  it('throws LoadError with the report, names the missing and unexpected keys and the fix, and loads nothing', async () => {
    const m = seqNet();
    const before = snapshot(m);
    await assert.rejects(loadStateDict(m, fixture('dataparallel.pt'), { strict: true, warn: null }), (e: unknown) => {
      assert.ok(e instanceof LoadError);
      assert.equal(e.name, 'LoadError');
      const r: LoadReport = e.report;
      assert.equal(r.missing.length, 10);
      assert.equal(r.unexpected.length, 10);
      assert.deepEqual(r.ignored, ['module.1.num_batches_tracked'], 'an entry no load reads is kept apart, even under an unrenamed prefix');
      assert.deepEqual(r.loaded, []);
      assert.match(e.message, /10 missing key\(s\) \[0\.weight, /);
      assert.match(e.message, /10 unexpected key\(s\) \[module\.0\.weight, .*\(1 ignored entry such as num_batches_tracked not counted\)/);
      assert.deepEqual(r.suggestion?.rules, [{ stripPrefix: 'module.' }]);
      assert.match(e.message, /strip the prefix 'module\.'/);
      assert.match(e.message, /Nothing was loaded/);
      return true;
    });
    assert.deepEqual(snapshot(m), before);
  });

  it('strict passes once the prefix is renamed', async () => {
    const r = await loadStateDict(seqNet(), fixture('dataparallel.pt'), { strict: true, rename: { stripPrefix: 'module.' } });
    assert.equal(r.loaded.length, 10);
    assert.deepEqual(r.ignored, ['1.num_batches_tracked']);
    assert.deepEqual(r.renames, [{ stripPrefix: 'module.' }]);
  });
});

describe('loadStateDict: loud warnings', () => {
  it("DataParallel's module.: nothing loads, the warning says so, names 'module.' and the rename that fixes it", async () => {
    const m = seqNet();
    const before = snapshot(m);
    const w = warnings();
    const r = await loadStateDict(m, fixture('dataparallel.pt'), { warn: w.warn });
    assert.equal(w.messages.length, 1);
    assert.equal(r.warning, w.messages[0]);
    assert.deepEqual(r.loaded, []);
    assert.equal(r.missing.length, 10);
    assert.equal(r.unexpected.length, 10);
    assert.deepEqual(r.ignored, ['module.1.num_batches_tracked']);
    const msg = w.messages[0];
    assert.match(msg, /^!{20,}/);
    assert.match(msg, /loaded 0 of the model's 10 weights — NOTHING was loaded/);
    assert.match(msg, /'module\.0\.weight'.*'0\.weight'/);
    assert.match(msg, /strip the prefix 'module\.'/);
    assert.match(msg, /rename: \{"stripPrefix":"module\."\}/);
    assert.match(msg, /map: 'auto'/);
    assert.deepEqual(snapshot(m), before);
  });

  it('seed 000: a pretrained AttentionResNet into the model that holds it as attention_map: caught at once', async () => {
    const pretrained = attentionResNet();
    const sd = filled(stateDictOf(pretrained), 100);
    const big = bigModel();
    const w = warnings();
    const r = await loadStateDict(big, sd, { warn: w.warn });
    assert.equal(r.loaded.length, 0);
    assert.equal(w.messages.length, 1);
    assert.match(w.messages[0], /NOTHING was loaded/);
    assert.match(w.messages[0], /add the prefix 'attention_map\.'/);
    assert.match(w.messages[0], /rename: \{"addPrefix":"attention_map\."\}/);
    // The fix it names works: the attention weights load, the rest of the model is reported missing.
    const w2 = warnings();
    const fixed = await loadStateDict(big, sd, { warn: w2.warn, rename: { addPrefix: 'attention_map.' } });
    assert.equal(fixed.loaded.length, sd.size);
    assert.deepEqual(fixed.missing, ['features.kernel', 'features.bias', 'classifier.kernel', 'classifier.bias']);
    assert.deepEqual(w2.messages, []);
    const now = stateDictOf(big);
    for (const [k, t] of sd) assert.deepEqual([...now.get(`attention_map.${k}`)!.data], [...t.data], k);
  });

  it('fewer than half of the weights: warned, with no rename to offer; warn: null keeps it in the report only', async () => {
    const src = (await readCheckpoint(fixture('state_dict.pt'))).stateDict;
    const part: StateDict = new Map([...src].filter(([k]) => k.startsWith('4.')));
    const w = warnings();
    const r = await loadStateDict(seqNet(), part, { warn: w.warn });
    assert.deepEqual(r.loaded, ['4.weight', '4.bias']);
    assert.equal(w.messages.length, 1);
    assert.match(w.messages[0], /loaded 2 of the model's 10 weights\./);
    assert.doesNotMatch(w.messages[0], /NOTHING/);
    assert.match(w.messages[0], /is this the right checkpoint/);
    const quiet = await loadStateDict(seqNet(), part, { warn: null });
    assert.match(quiet.warning ?? '', /loaded 2 of the model's 10 weights/);
  });

  it('half or more: no warning', async () => {
    const src = (await readCheckpoint(fixture('state_dict.pt'))).stateDict;
    const half: StateDict = new Map([...src].filter(([k]) => /^(0|1)\./.test(k)));
    const w = warnings();
    const r = await loadStateDict(seqNet(), half, { warn: w.warn });
    assert.equal(r.loaded.length, 6);
    assert.equal(r.warning, undefined);
    assert.deepEqual(w.messages, []);
  });

  it('by default the warning goes to console.warn', async (t) => {
    const spy = t.mock.method(console, 'warn', () => {});
    await loadStateDict(seqNet(), fixture('dataparallel.pt'));
    assert.equal(spy.mock.callCount(), 1);
    assert.match(String(spy.mock.calls[0].arguments[0]), /NOTHING was loaded/);
  });
});

describe('loadStateDict: shape mismatches (seed 003: LeNet5 → LeNet6)', () => {
  const lenet5 = () => filled(stateDictOf(leNet(false), { layout: 'torch' }), 1);

  it('without skipMismatch: throws LoadError listing both shapes, and no weight of the model changes', async () => {
    const m = leNet(true);
    const before = snapshot(m);
    await assert.rejects(loadStateDict(m, lenet5()), (e: unknown) => {
      assert.ok(e instanceof LoadError);
      assert.deepEqual(e.report.mismatched, [
        { key: 'fc.5.weight', expected: [64, 84], got: [10, 84] },
        { key: 'fc.5.bias', expected: [64], got: [10] },
      ]);
      assert.deepEqual(e.report.loaded, []);
      assert.match(e.message, /fc\.5\.weight: checkpoint \[10,84\] vs model \[64,84\]/);
      assert.match(e.message, /skipMismatch/);
      return true;
    });
    assert.deepEqual(snapshot(m), before);
  });

  it('with skipMismatch: the first four layers load, fc.5 is listed and left exactly as it was, fc.7 is missing', async () => {
    const m = leNet(true);
    const before = snapshot(m);
    const sd = lenet5();
    const w = warnings();
    const r = await loadStateDict(m, sd, { skipMismatch: true, warn: w.warn });
    assert.deepEqual(r.loaded, ['conv.0.weight', 'conv.0.bias', 'conv.3.weight', 'conv.3.bias', 'fc.1.weight', 'fc.1.bias', 'fc.3.weight', 'fc.3.bias']);
    assert.deepEqual(r.mismatched.map((x) => x.key), ['fc.5.weight', 'fc.5.bias']);
    assert.deepEqual(r.missing, ['fc.7.weight', 'fc.7.bias']);
    assert.deepEqual(r.unexpected, []);
    assert.deepEqual(w.messages, [], '8 of 12 is more than half');
    const after = snapshot(m);
    for (const k of ['fc.5.kernel', 'fc.5.bias', 'fc.7.kernel', 'fc.7.bias']) assert.deepEqual(after.get(k), before.get(k), k);
    const torch = stateDictOf(m, { layout: 'torch' });
    for (const k of r.loaded) assert.deepEqual([...torch.get(k)!.data], [...sd.get(k)!.data], k);
  });

  it('strict with skipMismatch still throws for what is missing, and changes nothing', async () => {
    const m = leNet(true);
    const before = snapshot(m);
    await assert.rejects(loadStateDict(m, lenet5(), { skipMismatch: true, strict: true }), (e: unknown) => e instanceof LoadError && e.report.missing.length === 2);
    assert.deepEqual(snapshot(m), before);
  });
});

describe("loadStateDict: map", () => {
  it("map: 'auto' strips DataParallel's module. and loads everything", async () => {
    const m = seqNet();
    const w = warnings();
    const r = await loadStateDict(m, fixture('dataparallel.pt'), { map: 'auto', warn: w.warn, strict: true });
    assert.equal(r.loaded.length, 10);
    assert.deepEqual(r.renames, [{ stripPrefix: 'module.' }]);
    assert.deepEqual(r.ignored, ['1.num_batches_tracked']);
    assert.deepEqual(w.messages, []);
    const expected = expectedOf('dataparallel.pt');
    for (const [k, t] of stateDictOf(m, { layout: 'torch' })) assert.equal(hexOf(t), expected.tensors[`module.${k}`].hex, k);
  });

  it("map: 'auto' adds seed 000's attention_map. prefix, and names the weights the checkpoint had nothing for", async () => {
    const sd = filled(stateDictOf(attentionResNet()), 7);
    const big = bigModel();
    const w = warnings();
    const r = await loadStateDict(big, sd, { map: 'auto', warn: w.warn });
    assert.deepEqual(r.renames, [{ addPrefix: 'attention_map.' }]);
    assert.equal(r.loaded.length, sd.size);
    assert.deepEqual(r.stranded, []);
    // map: 'auto' never leaves a weight at its initial value without a word, even one the checkpoint has nothing for.
    assert.equal(w.messages.length, 1);
    assert.equal(r.warning, w.messages[0]);
    assert.match(r.warning ?? '', /map: 'auto' left 4 weights at their initial values \(the checkpoint has nothing of their shape and role\): features\.kernel, features\.bias, classifier\.kernel, classifier\.bias/);
    assert.doesNotMatch(r.warning ?? '', /!!!!/, 'new layers are expected in transfer learning: a notice, not the banner');
  });

  it("map: 'auto' pairs keys by order and shape when no prefix explains them (PyTorch file into a model with other names)", async () => {
    const head = tf.sequential({ name: 'classifier', layers: [tf.layers.dense({ units: 2, name: 'out', inputShape: [3] })] });
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [8, 8, 1], name: 'stem' }),
        tf.layers.batchNormalization({ name: 'norm' }),
        tf.layers.reLU(), tf.layers.flatten(),
        tf.layers.dense({ units: 3, name: 'hidden' }),
        head,
      ],
    });
    const r = await loadStateDict(m, fixture('state_dict.pt'), { map: 'auto', warn: null });
    assert.equal(r.loaded.length, 10);
    assert.deepEqual(r.unexpected, []);
    assert.deepEqual(r.ignored, ['1.num_batches_tracked']);
    assert.equal(r.warning, undefined);
    assert.equal(r.renames.length, 1);
    assert.ok('map' in r.renames[0]);
    const expected = expectedOf('state_dict.pt');
    const back = stateDictOf(m, { layout: 'torch' });
    assert.equal(hexOf(back.get('classifier.out.weight')!), expected.tensors['head.fc.weight'].hex);
    assert.equal(hexOf(back.get('stem.weight')!), expected.tensors['0.weight'].hex);
  });

  it("map: 'auto' changes nothing when the keys already match", async () => {
    const r = await loadStateDict(seqNet(), fixture('state_dict.pt'), { map: 'auto', strict: true });
    assert.deepEqual(r.renames, []);
    assert.equal(r.loaded.length, 10);
  });

  it('an explicit map renames source keys', async () => {
    const src = (await readCheckpoint(fixture('state_dict.pt'))).stateDict;
    const sd = renameKeys(src, { map: { '4.weight': 'old_fc.weight', '4.bias': 'old_fc.bias' } });
    const r = await loadStateDict(seqNet(), sd, { map: { 'old_fc.weight': '4.weight', 'old_fc.bias': '4.bias' }, strict: true });
    assert.equal(r.loaded.length, 10);
    assert.deepEqual(r.renames, [{ map: { 'old_fc.weight': '4.weight', 'old_fc.bias': '4.bias' } }]);
  });
});
