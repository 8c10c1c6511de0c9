/**
 * Issue 16's cases, end to end on a zoo resnet18 and torchvision's own resnet18 file (random
 * weights, made at test time): TF.js's own model.save output reloads (by its topology, or with the
 * one suggested separator rule, strictly); `downsample` renamed `shortcut` gets the one middle-of-key
 * rule; unnamed and Keras-style layer names get a layer map that respects roles, and a map that
 * would be a guess is refused with the reason; a load that leaves weights at their initial values
 * beside unused tensors of their shape says so loudly; num_batches_tracked stays apart; the CLI
 * says in which naming each side was compared.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { diffKeys, loadStateDict, readCheckpoint, renameKeys, resnet18, stateDictOf, weightSlots, writeCheckpoint, type StateDict } from '../../lib';
import { tsfreeze } from '../helpers/cli';
import { oracleRoles, relabelLayers, saveLikeTfjs } from '../helpers/keysets';
import { python, requireTorch } from '../helpers/torch';

requireTorch();
const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-keys-'));
const TV = join(dir, 'tv_resnet18.pth');
const inputShape: [number, number, number] = [32, 32, 3];
let tv: StateDict;
let reference: tf.LayersModel;
let x: tf.Tensor;

/** Largest |a − b| between two models' outputs on the shared input. */
function outputGap(a: tf.LayersModel, b: tf.LayersModel): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a.predict(x) as tf.Tensor, b.predict(x) as tf.Tensor))).dataSync()[0]);
}

/** Collects warnings. */
function warnings() {
  const messages: string[] = [];
  return { warn: (m: string) => messages.push(m), messages };
}

before(async () => {
  await tf.setBackend('cpu');
  // torchvision's resnet18 state dict (random weights, running statistics moved off 0/1), num_batches_tracked included.
  python(`import sys, torch, torchvision
torch.manual_seed(0)
m = torchvision.models.resnet18(num_classes=10)
m.train()
with torch.no_grad():
    for _ in range(2): m(torch.randn(4, 3, 32, 32))
torch.save(m.state_dict(), sys.argv[1])`, [TV]);
  tv = (await readCheckpoint(TV)).stateDict;
  reference = resnet18({ inputShape, numClasses: 10 });
  await loadStateDict(reference, TV, { strict: true });
  x = tf.randomNormal([2, ...inputShape], 0, 1, 'float32', 3);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("TF.js's own model.save output", () => {
  let file: string;
  before(async () => { file = await saveLikeTfjs(reference, join(dir, 'saved')); });

  it("as a state dict (keys like 'layer1.0.conv1/kernel'): the one suggestion is the '/' → '.' rule, and it reloads all 102 tensors strictly", async () => {
    const sd = (await readCheckpoint(file)).stateDict;
    assert.ok(sd.has('conv1/kernel') && sd.has('layer1.0.bn1/moving_mean'));
    const m = resnet18({ inputShape, numClasses: 10 });
    const d = await diffKeys(sd, m);
    assert.equal(d.layout, 'tfjs');
    assert.equal(d.matched.length, 0);
    assert.equal(d.suggestions.length, 1, JSON.stringify(d.suggestions.map((s) => s.description)));
    const [s] = d.suggestions;
    assert.equal(s.rules.length, 1);
    assert.equal(s.code, 'renameKeys(sd, { pattern: /\\//g, replacement: "." })');
    assert.equal(s.gain, 102);
    const r = await loadStateDict(m, sd, { rename: s.rules, strict: true });
    assert.equal(r.loaded.length, 102);
    assert.equal(outputGap(m, reference), 0);
  });

  it('as a file: its topology makes the weight names structural keys; diffKeys matches all 102 and a strict load needs no rename', async () => {
    const m = resnet18({ inputShape, numClasses: 10 });
    const d = await diffKeys(file, m);
    assert.equal(d.matched.length, 102);
    assert.deepEqual(d.suggestions, []);
    assert.match(d.sides.a.naming, /^structural keys made from TF\.js's weight names by model\.json's topology/);
    const r = await loadStateDict(m, file, { strict: true });
    assert.equal(r.loaded.length, 102);
    assert.match(r.naming ?? '', /topology/);
    assert.equal(outputGap(m, reference), 0);
  });

  it('saved from a model with unnamed layers (dense_Dense3/kernel-style names): reloads strictly into another instance through the topology', async () => {
    const unnamed = await relabelLayers(reference, 'auto');
    const saved = await saveLikeTfjs(unnamed, join(dir, 'unnamed'));
    assert.ok((await readCheckpoint(saved)).stateDict.has('torch_conv2_d_TorchConv2D1/kernel'));
    const other = await relabelLayers(resnet18({ inputShape, numClasses: 10 }), 'auto');
    const r = await loadStateDict(other, saved, { strict: true });
    assert.equal(r.loaded.length, 102);
    assert.equal(outputGap(other, reference), 0);
  });

  it("a Keras-named save into the zoo model: map: 'auto' pairs the layers by role and shape and loads all 102, outputs equal", async () => {
    const saved = await saveLikeTfjs(await relabelLayers(reference, 'keras'), join(dir, 'keras'));
    const m = resnet18({ inputShape, numClasses: 10 });
    const w = warnings();
    const r = await loadStateDict(m, saved, { map: 'auto', strict: true, warn: w.warn });
    assert.equal(r.loaded.length, 102);
    assert.deepEqual(w.messages, []);
    assert.equal(outputGap(m, reference), 0);
  });
});

describe('names in the middle of keys', () => {
  it("'downsample' renamed 'shortcut': the one-rule suggestion fixes all 15 keys and loads strictly; num_batches_tracked stays apart", async () => {
    const sd = renameKeys(tv, { pattern: /\.downsample\./g, replacement: '.shortcut.' });
    const m = resnet18({ inputShape, numClasses: 10 });
    const d = await diffKeys(sd, m);
    assert.equal(d.matched.length, 87);
    assert.equal(d.onlyA.length, 15);
    assert.equal(d.ignored.a.length, 20);
    assert.ok(d.ignored.a.every((k) => k.endsWith('.num_batches_tracked')));
    assert.ok(![...d.onlyA, ...d.onlyB].some((k) => k.includes('num_batches_tracked')));
    assert.equal(d.suggestions[0].rules.length, 1);
    assert.equal(d.suggestions[0].description, "replace '.shortcut.' with '.downsample.' inside keys");
    assert.equal(d.suggestions[0].gain, 15);
    const r = await loadStateDict(m, sd, { rename: d.suggestions[0].rules, strict: true });
    assert.equal(r.loaded.length, 102);
    assert.equal(r.ignored.length, 20);
    assert.equal(outputGap(m, reference), 0);
  });

  it("with DataParallel's module. too: two rules, the prefix first, and map: 'auto' applies both", async () => {
    const sd = renameKeys(tv, [{ pattern: /\.downsample\./g, replacement: '.shortcut.' }, { addPrefix: 'module.' }]);
    const m = resnet18({ inputShape, numClasses: 10 });
    const d = await diffKeys(sd, m);
    assert.deepEqual(d.suggestions[0].rules.map((r) => JSON.stringify(r, (_, v) => (v instanceof RegExp ? String(v) : v))), ['{"stripPrefix":"module."}', '{"pattern":"/\\\\.shortcut\\\\./g","replacement":".downsample."}']);
    assert.equal(d.suggestions[0].gain, 102);
    const r = await loadStateDict(m, sd, { map: 'auto', strict: true, warn: null });
    assert.equal(r.loaded.length, 102);
    assert.equal(outputGap(m, reference), 0);
  });
});

describe('unnamed and Keras-style layer names (no name in common)', () => {
  for (const style of ['auto', 'keras'] as const) {
    it(`${style}: one layer map of all 102 keys, every pair of one role; map: 'auto' loads it and gives the reference's outputs, silently`, async () => {
      const m = await relabelLayers(resnet18({ inputShape, numClasses: 10 }), style);
      const d = await diffKeys(TV, m);
      assert.equal(d.layout, 'torch');
      assert.equal(d.suggestions.length, 1, JSON.stringify(d.suggestions.map((s) => s.description)));
      const [s] = d.suggestions;
      assert.equal(s.gain, 102);
      assert.match(s.description, /^map 102 keys of 41 layers paired by role and shape in order \(8 by shapes no other layer has\)$/);
      const map = (s.rule as { map: Record<string, string> }).map;
      const roles = oracleRoles([...tv].map(([k, t]) => [k, t.shape]));
      const slotRole = new Map(weightSlots(m).map((w) => [w.torchKey, w.role]));
      for (const [from, to] of Object.entries(map)) assert.equal(slotRole.get(to), roles.get(from), `${from} → ${to}`);
      const w = warnings();
      const r = await loadStateDict(m, TV, { map: 'auto', warn: w.warn });
      assert.equal(r.loaded.length, 102);
      assert.deepEqual([r.missing, r.unexpected, w.messages], [[], [], []]);
      assert.equal(outputGap(m, reference), 0);
    });
  }

  it("two layers of equal shapes listed in another order: no map is offered, the note says why, and map: 'auto' warns loudly instead of guessing", async () => {
    // Keras-style names, and layer1.0's second BatchNorm listed before the convolution it follows (a graph order).
    const keys = [...tv.keys()];
    const bn2 = keys.filter((k) => k.startsWith('layer1.0.bn2.'));
    const at = keys.indexOf('layer1.0.conv2.weight');
    const order = [...keys.slice(0, at).filter((k) => !bn2.includes(k)), ...bn2, ...keys.slice(at).filter((k) => !bn2.includes(k))];
    const modules = new Map<string, string>();
    const sd: StateDict = new Map();
    for (const k of order) {
      const mod = k.slice(0, k.lastIndexOf('.'));
      if (!modules.has(mod)) modules.set(mod, `layer_${modules.size + 1}`);
      sd.set(`${modules.get(mod)}${k.slice(k.lastIndexOf('.'))}`, tv.get(k)!);
    }
    const m = resnet18({ inputShape, numClasses: 10 });
    const d = await diffKeys(sd, m);
    assert.ok(!d.suggestions.some((s) => s.rules.some((r) => 'map' in r && Object.keys(r.map).length > 20)), d.suggestions.map((s) => s.description).join('; '));
    assert.ok(d.notes.some((n) => /in a different order .*pairing them by order would be a guess/.test(n)), d.notes.join('\n'));
    const w = warnings();
    const r = await loadStateDict(m, sd, { map: 'auto', warn: w.warn });
    assert.equal(w.messages.length, 1);
    assert.match(w.messages[0], /Loaded, but not that one\?/);
    assert.ok(r.stranded.length > 0);
  });
});

describe('loaded, but not that one', () => {
  it("fc saved as 'classifier': 100 of 102 load (no longer silent above half): the warning names both keys and the pairing", async () => {
    const sd = renameKeys(tv, { replacePrefix: ['fc.', 'classifier.'] });
    const m = resnet18({ inputShape, numClasses: 10 });
    const w = warnings();
    const r = await loadStateDict(m, sd, { warn: w.warn });
    assert.equal(r.loaded.length, 100);
    assert.deepEqual(r.stranded, [
      { key: 'fc.weight', shape: [10, 512], candidates: ['classifier.weight'] },
      { key: 'fc.bias', shape: [10], candidates: ['classifier.bias'] },
    ]);
    assert.equal(w.messages.length, 1);
    assert.equal(r.warning, w.messages[0]);
    assert.match(r.warning!, /^!{78}\ntsfreeze: loaded 100 of the model's 102 weights; 2 weights kept their initial values\./);
    assert.match(r.warning!, /Loaded, but not that one\? 2 model weights stayed at their initial value/);
    assert.match(r.warning!, /fc\.weight \[10,512\] {2}← {2}classifier\.weight/);
    assert.match(r.warning!, /Likely cause: .*map 2 keys of 1 layer paired by role and shape .* would match 2 more:\n {4}loadStateDict\(model, source, \{ rename: \{"map":\{"classifier\.weight":"fc\.weight","classifier\.bias":"fc\.bias"\}\} \}\)/);
    assert.deepEqual(r.suggestion?.rules, [{ map: { 'classifier.weight': 'fc.weight', 'classifier.bias': 'fc.bias' } }]);
  });

  it('a BERT mirror (a plain object of variables) loading q/k/v saved as query/key/value: 10 of 16 load, the 6 left random are named, and the rename is found', async () => {
    const h = 8;
    const v = (...shape: number[]) => tf.variable(tf.zeros(shape));
    const layer = () => ({
      attention: { self: { query: { weight: v(h, h), bias: v(h) }, key: { weight: v(h, h), bias: v(h) }, value: { weight: v(h, h), bias: v(h) } }, output: { dense: { weight: v(h, h), bias: v(h) }, LayerNorm: { weight: v(h), bias: v(h) } } },
      intermediate: { dense: { weight: v(2 * h, h), bias: v(2 * h) } },
      output: { dense: { weight: v(h, 2 * h), bias: v(h) }, LayerNorm: { weight: v(h), bias: v(h) } },
    });
    const model = { encoder: { layer: { 0: layer() } } };
    const source = renameKeys(stateDictOf(model), [{ pattern: /\.query\./, replacement: '.q.' }, { pattern: /\.key\./, replacement: '.k.' }, { pattern: /\.value\./, replacement: '.v.' }]);
    for (const t of source.values()) (t.data as Float32Array).fill(0.5);
    const w = warnings();
    const r = await loadStateDict(model, source, { warn: w.warn });
    assert.equal(r.loaded.length, 10);
    assert.equal(r.stranded.length, 6);
    assert.equal(w.messages.length, 1);
    assert.match(w.messages[0], /encoder\.layer\.0\.attention\.self\.query\.weight \[8,8\] {2}← {2}encoder\.layer\.0\.attention\.self\.q\.weight \| encoder\.layer\.0\.attention\.self\.k\.weight \| encoder\.layer\.0\.attention\.self\.v\.weight/);
    // The names tell q from k and v: one rule per name, nothing guessed from shapes.
    const d = await diffKeys(source, model);
    assert.equal(d.suggestions[0].gain, 6, d.suggestions.map((s) => s.description).join('; '));
    const fixed = await loadStateDict(model, source, { rename: d.suggestions[0].rules, strict: true });
    assert.equal(fixed.loaded.length, 16);
  });
});

describe('the CLI says in which naming each side was compared', () => {
  it('a PyTorch .pth against a TF.js model.json: the json is converted through its topology and the layer table; all 102 match', async () => {
    const json = await saveLikeTfjs(reference, join(dir, 'cli'));
    const r = tsfreeze('diffkeys', TV, json);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^A: .*tv_resnet18\.pth — PyTorch's naming and layout, as saved$/m);
    assert.match(r.stdout, /^B: .*model\.json — structural keys made from TF\.js's weight names by model\.json's topology \(Model of \d+ layers\), then PyTorch's naming and layout by the layer table$/m);
    assert.match(r.stdout, /^compared in PyTorch's naming and layout$/m);
    assert.match(r.stdout, /^102 matched, 0 shape-mismatched, 0 only in A, 0 only in B; ignored apart: 20 in A, 0 in B$/m);
    assert.match(r.stdout, /^ {2}A: 20 × num_batches_tracked$/m);
    assert.match(r.stdout, /^every key matches: no rename needed$/m);
    assert.doesNotMatch(r.stdout, /Hi, looks like you are running TensorFlow\.js/, 'rebuilding the topology must not print TF.js\'s banner');
  });

  it("a TF.js weights file without topology (structural keys) against the .pth: converted by weight name, and said so", async () => {
    const json = join(dir, 'weights_only.json');
    await writeCheckpoint(json, stateDictOf(reference));
    const r = tsfreeze('diffkeys', TV, json);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^B: .*weights_only\.json — TF\.js naming and layout, as saved, converted to PyTorch's naming and layout by weight name through the layer table$/m);
    assert.match(r.stdout, /^102 matched, 0 shape-mismatched, 0 only in A, 0 only in B/m);
  });
});
