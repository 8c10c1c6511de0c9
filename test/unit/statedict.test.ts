/** renameKeys, filterStateDict, mergeStateDicts and diffKeyShapes on plain state dicts (no TF.js). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { diffKeyShapes, filterStateDict, mergeStateDicts, readCheckpoint, renameKey, renameKeys, shapesOf, type HostTensor, type StateDict } from '../../lib';
import { ruleCode } from '../../lib/statedict/rename';
import { TORCH_FIXTURES } from '../helpers/torch';

/** A float32 tensor of `shape` whose elements are all `fill`. */
function ht(shape: number[], fill = 0): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', shape, data: new Float32Array(n).fill(fill) };
}

const sdOf = (entries: Array<[string, number[], number?]>): StateDict => new Map(entries.map(([k, s, f]) => [k, ht(s, f)]));

/** LeNet5's and LeNet6's PyTorch state dicts (seed 003), shapes as printed there. */
const LENET5: Array<[string, number[]]> = [
  ['conv.0.weight', [6, 1, 5, 5]], ['conv.0.bias', [6]], ['conv.3.weight', [16, 6, 5, 5]], ['conv.3.bias', [16]],
  ['fc.1.weight', [120, 400]], ['fc.1.bias', [120]], ['fc.3.weight', [84, 120]], ['fc.3.bias', [84]],
  ['fc.5.weight', [10, 84]], ['fc.5.bias', [10]],
];
const LENET6: Array<[string, number[]]> = [
  ...LENET5.slice(0, 8),
  ['fc.5.weight', [64, 84]], ['fc.5.bias', [64]], ['fc.7.weight', [10, 64]], ['fc.7.bias', [10]],
];

describe('renameKeys', () => {
  const sd = sdOf([['module.conv.weight', [2]], ['module.conv.bias', [1]], ['head.weight', [3]]]);

  it('strips a prefix where present and keeps other keys; values are the same objects, order kept', () => {
    const out = renameKeys(sd, { stripPrefix: 'module.' });
    assert.deepEqual([...out.keys()], ['conv.weight', 'conv.bias', 'head.weight']);
    assert.equal(out.get('conv.weight'), sd.get('module.conv.weight'));
    assert.equal(sd.size, 3, 'the input is left alone');
    assert.ok(sd.has('module.conv.weight'));
  });

  it('adds a prefix (seed 000: attention_map.)', () => {
    assert.deepEqual([...renameKeys(sdOf([['0.weight', [1]], ['0.bias', [1]]]), { addPrefix: 'attention_map.' }).keys()], ['attention_map.0.weight', 'attention_map.0.bias']);
  });

  it('replaces a prefix only at the start', () => {
    const out = renameKeys(sdOf([['net.a.net.b', [1]], ['x.net.c', [1]]]), { replacePrefix: ['net.', 'model.'] });
    assert.deepEqual([...out.keys()], ['model.a.net.b', 'x.net.c']);
  });

  it('rewrites with a regex (RegExp or string, capture groups allowed)', () => {
    const a = renameKeys(sdOf([['layer1.0.bn1.weight', [1]], ['layer1.0.bn1.bias', [1]]]), { pattern: /\.bn(\d)\./, replacement: '.norm$1.' });
    assert.deepEqual([...a.keys()], ['layer1.0.norm1.weight', 'layer1.0.norm1.bias']);
    const b = renameKeys(sdOf([['a.gamma', [1]], ['a.beta', [1]]]), { pattern: '\\.gamma$', replacement: '.weight' });
    assert.deepEqual([...b.keys()], ['a.weight', 'a.beta']);
    const g = renameKeys(sdOf([['a_b_c', [1]]]), { pattern: /_/g, replacement: '.' });
    assert.deepEqual([...g.keys()], ['a.b.c']);
  });

  it('maps keys explicitly; keys outside the map (and inherited names like "constructor") stay', () => {
    const out = renameKeys(sdOf([['fc.weight', [1]], ['constructor', [1]]]), { map: { 'fc.weight': 'classifier.weight' } });
    assert.deepEqual([...out.keys()], ['classifier.weight', 'constructor']);
  });

  it('applies a list of rules in order', () => {
    const out = renameKeys(sd, [{ stripPrefix: 'module.' }, { addPrefix: 'backbone.' }, { map: { 'backbone.head.weight': 'head.weight' } }]);
    assert.deepEqual([...out.keys()], ['backbone.conv.weight', 'backbone.conv.bias', 'head.weight']);
  });

  it('two keys that become one are an error naming the key', () => {
    const both = sdOf([['module.fc.weight', [1]], ['fc.weight', [1]]]);
    assert.throws(() => renameKeys(both, { stripPrefix: 'module.' }), /'fc\.weight'.*both become 'fc\.weight'/);
    assert.throws(() => renameKeys(both, { map: { 'module.fc.weight': 'fc.weight' } }), /both become 'fc\.weight'/);
  });

  it('renameKey on one key; ruleCode writes the call that applies a rule', () => {
    assert.equal(renameKey('module.x', { stripPrefix: 'module.' }), 'x');
    assert.equal(renameKey('y', { stripPrefix: 'module.' }), 'y');
    assert.equal(ruleCode({ stripPrefix: 'module.' }), 'renameKeys(sd, {"stripPrefix":"module."})');
    assert.equal(ruleCode({ map: { a: 'b' } }, 'pretrained'), 'renameKeys(pretrained, { map: {"a":"b"} })');
    assert.equal(ruleCode({ pattern: /^Module\./i, replacement: '' }), 'renameKeys(sd, { pattern: /^Module\\./i, replacement: "" })');
  });

  it('the code ruleCode writes for a regex is valid and does what the rule does', () => {
    const rules = [
      { pattern: /^Module\./i, replacement: '' },
      { pattern: 'a/b', replacement: 'c' },
      { pattern: /_/g, replacement: '.' },
    ];
    for (const rule of rules) {
      const code = ruleCode(rule);
      const run = new Function('renameKeys', 'sd', `return ${code};`) as (f: typeof renameKeys, sd: StateDict) => StateDict;
      const input = sdOf([['module.a/b_x_y', [1]]]);
      assert.deepEqual([...run(renameKeys, input).keys()], [...renameKeys(input, rule).keys()], code);
    }
  });
});

describe('filterStateDict (seed 003: para_state_dict)', () => {
  it('keeps the keys the model has with shapes that fit, and says why the rest were dropped', () => {
    const loaded = sdOf(LENET5);
    const { stateDict, dropped } = filterStateDict(loaded, shapesOf(sdOf(LENET6)));
    assert.deepEqual([...stateDict.keys()], LENET5.slice(0, 8).map(([k]) => k));
    assert.deepEqual(dropped, [{ key: 'fc.5.weight', reason: 'shape' }, { key: 'fc.5.bias', reason: 'shape' }]);
    assert.equal(stateDict.get('conv.0.weight'), loaded.get('conv.0.weight'));
  });

  it('drops absent keys; `shapes: false` keeps present keys whatever their shape', () => {
    const target = shapesOf(sdOf([['a', [2]], ['b', [3]]]));
    const r = filterStateDict(sdOf([['a', [2]], ['b', [4]], ['c', [1]]]), target, { shapes: false });
    assert.deepEqual([...r.stateDict.keys()], ['a', 'b']);
    assert.deepEqual(r.dropped, [{ key: 'c', reason: 'absent' }]);
  });
});

describe('mergeStateDicts (seed 001 §4.2)', () => {
  it("fills what the trained state dict lacks (BN running stats dropped by track_running_stats=False) from the original's", async () => {
    const original = (await readCheckpoint(join(TORCH_FIXTURES, 'state_dict.pt'))).stateDict;
    const trained: StateDict = new Map([...original].filter(([k]) => !/running_|num_batches/.test(k)).map(([k, t]) => [k, ht(t.shape, 1)]));
    assert.equal(trained.size, original.size - 3);
    const merged = mergeStateDicts(trained, original);
    assert.deepEqual([...merged.keys()], [...original.keys()], "the original's order");
    for (const [k, t] of merged) assert.equal(t, trained.get(k) ?? original.get(k), k);
    assert.equal(merged.get('1.running_mean'), original.get('1.running_mean'));
    assert.equal(merged.get('0.weight')!.data[0], 1, 'trained values win');
  });

  it("keys only the primary has come last", () => {
    const m = mergeStateDicts(sdOf([['new', [1], 5], ['a', [1], 2]]), sdOf([['a', [1], 1], ['b', [1], 1]]));
    assert.deepEqual([...m.keys()], ['a', 'b', 'new']);
    assert.equal(m.get('a')!.data[0], 2);
  });
});

describe('diffKeyShapes', () => {
  it('LeNet5 vs LeNet6 (PyTorch shapes): eight keys match, fc.5 differs in shape, fc.7 is new, nothing to rename', () => {
    const d = diffKeyShapes(shapesOf(sdOf(LENET5)), shapesOf(sdOf(LENET6)));
    assert.deepEqual(d.matched, LENET5.slice(0, 8).map(([k]) => k));
    assert.deepEqual(d.mismatched, [{ key: 'fc.5.weight', a: [10, 84], b: [64, 84] }, { key: 'fc.5.bias', a: [10], b: [64] }]);
    assert.deepEqual(d.onlyA, []);
    assert.deepEqual(d.onlyB, ['fc.7.weight', 'fc.7.bias']);
    assert.deepEqual(d.suggestions, []);
  });

  it('suggests replacing one prefix with another, with its gain', () => {
    const a = shapesOf(sdOf([['encoder.layer.0.weight', [4, 4]], ['encoder.layer.0.bias', [4]], ['head.weight', [2, 4]]]));
    const b = shapesOf(sdOf([['backbone.layer.0.weight', [4, 4]], ['backbone.layer.0.bias', [4]], ['head.weight', [2, 4]]]));
    const d = diffKeyShapes(a, b);
    assert.deepEqual(d.matched, ['head.weight']);
    assert.deepEqual(d.suggestions[0].rule, { replacePrefix: ['encoder.', 'backbone.'] });
    assert.equal(d.suggestions[0].gain, 2);
    assert.equal(d.suggestions[0].description, "replace the prefix 'encoder.' with 'backbone.'");
  });

  it('a prefix rule is not suggested when shapes would not fit', () => {
    const a = shapesOf(sdOf([['module.fc.weight', [3, 4]], ['module.fc.bias', [3]]]));
    const b = shapesOf(sdOf([['fc.weight', [5, 4]], ['fc.bias', [5]]]));
    assert.deepEqual(diffKeyShapes(a, b).suggestions, []);
  });

  it('suggestions are best first and each gain is what applying it really adds', () => {
    const a = sdOf([
      ['module.a.x.weight', [1]], ['module.a.y.weight', [2]], ['module.a.z.weight', [3]], ['module.b.w.weight', [4]],
    ]);
    const b = sdOf([['a.x.weight', [1]], ['a.y.weight', [2]], ['a.z.weight', [3]], ['b.w.weight', [4]]]);
    const d = diffKeyShapes(shapesOf(a), shapesOf(b));
    assert.ok(d.suggestions.length >= 1);
    for (let i = 1; i < d.suggestions.length; i++) assert.ok(d.suggestions[i - 1].gain >= d.suggestions[i].gain);
    for (const s of d.suggestions.filter((x) => !('map' in x.rule))) {
      const after = diffKeyShapes(shapesOf(renameKeys(a, s.rule)), shapesOf(b));
      assert.equal(after.matched.length - d.matched.length, s.gain, s.description);
    }
    assert.deepEqual(d.suggestions[0].rule, { stripPrefix: 'module.' });
    assert.equal(d.suggestions[0].gain, 4);
  });
});
