/** `tsfreeze diffkeys A B [--json]`, run as a user runs it (the compiled CLI: npm test builds it first). */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffKeys, readCheckpoint, renameKeys, writeCheckpoint, type HostTensor, type StateDict } from '../../lib';
import { formatKeyDiff } from '../../kernel/commands/diffkeys';
import { TORCH_FIXTURES } from '../helpers/torch';
import { tsfreeze } from '../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-diffkeys-'));
const fixture = (f: string) => join(TORCH_FIXTURES, f);
const DP = fixture('dataparallel.pt');
const SD = fixture('state_dict.pt');

function ht(shape: number[]): HostTensor {
  return { dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
}
const sdOf = (entries: Array<[string, number[]]>): StateDict => new Map(entries.map(([k, s]) => [k, ht(s)]));

const LENET5: Array<[string, number[]]> = [
  ['conv.0.weight', [6, 1, 5, 5]], ['conv.0.bias', [6]], ['conv.3.weight', [16, 6, 5, 5]], ['conv.3.bias', [16]],
  ['fc.1.weight', [120, 400]], ['fc.1.bias', [120]], ['fc.3.weight', [84, 120]], ['fc.3.bias', [84]],
  ['fc.5.weight', [10, 84]], ['fc.5.bias', [10]],
];
const LENET6: Array<[string, number[]]> = [...LENET5.slice(0, 8), ['fc.5.weight', [64, 84]], ['fc.5.bias', [64]], ['fc.7.weight', [10, 64]], ['fc.7.bias', [10]]];

const file = (name: string) => join(dir, name);

before(async () => {
  await writeCheckpoint(file('lenet5.pt'), sdOf(LENET5));
  await writeCheckpoint(file('lenet6.safetensors'), sdOf(LENET6));
  // 30 layers on each side, no key in common: long lists are cut.
  const many = (p: string) => sdOf(Array.from({ length: 30 }, (_, i): [string, number[]] => [`${p}layer${i}.weight`, [i + 1, 2]]));
  await writeCheckpoint(file('many_a.pt'), many('module.'));
  await writeCheckpoint(file('many_b.pt'), many('backbone.'));
  // A prefix to strip, then two keys only a key map can pair.
  await writeCheckpoint(file('wrapped.pt'), sdOf([['module.enc.weight', [8, 4]], ['module.enc.bias', [8]], ['module.old_head.weight', [3, 8]], ['module.old_head.bias', [3]]]));
  await writeCheckpoint(file('plain.pt'), sdOf([['enc.weight', [8, 4]], ['enc.bias', [8]], ['head.weight', [3, 8]], ['head.bias', [3]]]));
});

test("dataparallel.pt vs state_dict.pt: counts, both lists, num_batches_tracked apart, and the suggestion to strip 'module.' as a ready-to-run line", () => {
  const r = tsfreeze('diffkeys', DP, SD);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^A: .*dataparallel\.pt — PyTorch's naming and layout, as saved$/m);
  assert.match(r.stdout, /^compared in PyTorch's naming and layout$/m);
  assert.match(r.stdout, /^0 matched, 0 shape-mismatched, 10 only in A, 10 only in B; ignored apart: 1 in A, 1 in B$/m);
  assert.match(r.stdout, /^only in A \(10\):\n {2}module\.0\.weight\n/m);
  assert.match(r.stdout, /^only in B \(10\):\n {2}0\.weight\n/m);
  assert.doesNotMatch(r.stdout, /^ {2}(module\.)?1\.num_batches_tracked$/m);
  assert.match(r.stdout, /^ignored \(no TF\.js twin, never loaded; not counted above\):\n {2}A: 1 × num_batches_tracked\n {2}B: 1 × num_batches_tracked$/m);
  assert.match(r.stdout, /^suggestions .*:\n {2}\+10 matched: strip the prefix 'module\.'\n {4}renameKeys\(sd, \{"stripPrefix":"module\."\}\)$/m);
  assert.match(r.stdout, /map: 'auto'/);
});

test('--json prints the ModelKeyDiff, the same as the library gives', async () => {
  const r = tsfreeze('diffkeys', DP, SD, '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j, JSON.parse(JSON.stringify(await diffKeys(DP, SD))));
  assert.equal(j.layout, 'torch');
  assert.deepEqual(j.suggestions[0].rule, { stripPrefix: 'module.' });
  assert.deepEqual(j.suggestions[0].rules, [{ stripPrefix: 'module.' }]);
  assert.equal(j.suggestions[0].gain, 10);
  assert.deepEqual(j.ignored, { a: ['module.1.num_batches_tracked'], b: ['1.num_batches_tracked'] });
  assert.deepEqual(j.sides.a, { kind: 'file', layout: 'torch', naming: "PyTorch's naming and layout, as saved" });
  assert.deepEqual(Object.keys(j).sort(), ['ignored', 'layout', 'matched', 'mismatched', 'notes', 'onlyA', 'onlyB', 'sides', 'suggestions']);
});

test('the same file twice: everything matches, no rename needed', () => {
  const r = tsfreeze('diffkeys', SD, SD);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^10 matched, 0 shape-mismatched, 0 only in A, 0 only in B; ignored apart: 1 in A, 1 in B$/m);
  assert.match(r.stdout, /^every key matches: no rename needed$/m);
});

test('seed 003 LeNet5 (.pt) vs LeNet6 (.safetensors): eight matched, fc.5 with both shapes, fc.7 only in B', () => {
  const r = tsfreeze('diffkeys', file('lenet5.pt'), file('lenet6.safetensors'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^8 matched, 2 shape-mismatched, 0 only in A, 2 only in B$/m);
  assert.match(r.stdout, /^ {2}fc\.5\.weight {2}\[10, 84\] vs \[64, 84\]$/m);
  assert.match(r.stdout, /^ {2}fc\.5\.bias {4}\[10\] vs \[64\]$/m);
  assert.match(r.stdout, /^only in B \(2\):\n {2}fc\.7\.bias\n {2}fc\.7\.weight$/m); // safetensors keeps keys sorted
  assert.match(r.stdout, /^no rename of A matches more keys of B$/m);
  const j = JSON.parse(tsfreeze('diffkeys', file('lenet5.pt'), file('lenet6.safetensors'), '--json').stdout);
  assert.deepEqual(j.mismatched, [{ key: 'fc.5.weight', a: [10, 84], b: [64, 84] }, { key: 'fc.5.bias', a: [10], b: [64] }]);
});

test('long lists are cut with "… and N more"; --json keeps them whole', () => {
  const r = tsfreeze('diffkeys', file('many_a.pt'), file('many_b.pt'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^only in A \(30\):$/m);
  assert.match(r.stdout, /^ {2}module\.layer19\.weight\n {2}… and 10 more$/m);
  assert.doesNotMatch(r.stdout, /module\.layer20\.weight/);
  assert.match(r.stdout, /\+30 matched: replace the prefix 'module\.' with 'backbone\.'/);
  const j = JSON.parse(tsfreeze('diffkeys', file('many_a.pt'), file('many_b.pt'), '--json').stdout);
  assert.equal(j.onlyA.length, 30);
});

test('a key map found after a prefix rule is printed as one line that applies both, and it works', async () => {
  const r = tsfreeze('diffkeys', file('wrapped.pt'), file('plain.pt'));
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const at = lines.findIndex((l) => /strip the prefix 'module\.', then map 2 keys of 1 layer paired by role and shape/.test(l));
  assert.ok(at > 0, r.stdout);
  const code = lines[at + 1].trim();
  assert.match(code, /^renameKeys\(renameKeys\(sd, \{"stripPrefix":"module\."\}\), \{ map: \{"old_head\.weight":"head\.weight","old_head\.bias":"head\.bias"\} \}\)$/);
  const sd = (await readCheckpoint(file('wrapped.pt'))).stateDict;
  const renamed = new Function('renameKeys', 'sd', `return ${code};`)(renameKeys, sd) as StateDict;
  const after = await diffKeys(renamed, file('plain.pt'));
  assert.equal(after.matched.length, 4);
});

test('formatKeyDiff: the limit is an option', async () => {
  const text = formatKeyDiff(await diffKeys(DP, SD), { a: 'dp', b: 'sd', limit: 3 });
  assert.match(text, /^A: dp — PyTorch's naming and layout, as saved$/m);
  assert.match(text, /^ {2}module\.1\.weight\n {2}… and 7 more$/m);
});

const bad: Array<[string, () => string[], RegExp]> = [
  ['a missing file', () => ['diffkeys', DP, file('nope.pt')], /nope\.pt: cannot be read: ENOENT/],
  ['a file that is no checkpoint', () => { const f = file('text.pt'); writeFileSync(f, 'not a checkpoint'); return ['diffkeys', f, SD]; }, /text\.pt: is not a checkpoint in any supported format/],
  ['one argument', () => ['diffkeys', DP], /^tsfreeze diffkeys: expected 2 arguments, got 1$/],
  ['an unknown option', () => ['diffkeys', DP, SD, '--nope'], /^tsfreeze diffkeys: Unknown option '--nope'/],
];
for (const [what, argv, message] of bad) {
  test(`${what}: exit 1 with one line saying what is wrong`, () => {
    const r = tsfreeze(...argv());
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr.split('\n')[0], message);
    assert.match(r.stderr.split('\n')[0], /^tsfreeze diffkeys: /);
    if (!/argument|option/.test(what)) assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
}
