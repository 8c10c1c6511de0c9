/**
 * The transfer-learning magics (%diffkeys, %load, %rename, %freeze, %unfreeze, %checkfrozen,
 * %summary, %plot, %backend) through a real Jupyter client: magics_client.py starts the installed
 * kernel with jupyter_client and checks what each magic shows, defines and refuses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { jupyterPrefix } from '../helpers/kernelspec';
import { PYTHON, requirePython } from '../helpers/jupyter';
import { parseRenameRule, ruleWord } from '../../kernel/magics/rename-rule';
import { kindOf, literalWords } from '../../kernel/magics/resolve';
import { parseMagicCall, UsageError, type Magic } from '../../kernel/magics/registry';
import { splitWords } from '../../kernel/magics/words';
import { renameKey, type RenameRule } from '../../lib/statedict/rename';

test('rename rules: each word form parses, and a rule prints back as a word that parses to the same renames', () => {
  const rules: Array<[string, RenameRule]> = [
    ['strip:module.', { stripPrefix: 'module.' }],
    ['add:attention_map.', { addPrefix: 'attention_map.' }],
    ['replace:backbone.=features.', { replacePrefix: ['backbone.', 'features.'] }],
    ['map:fc.weight=head.weight,fc.bias=head.bias', { map: { 'fc.weight': 'head.weight', 'fc.bias': 'head.bias' } }],
  ];
  for (const [word, rule] of rules) {
    assert.deepEqual(parseRenameRule(word, 't'), rule);
    assert.equal(ruleWord(rule), word);
  }
  const re = parseRenameRule('s/^fc\\.(\\d+)\\//head.$1\\//g', 't');
  assert.equal(renameKey('fc.3/w', re), 'head.3/w');
  // Words with backslashes or spaces print quoted, and split back to what they were.
  for (const rule of [re, { stripPrefix: 'my prefix.' }, { replacePrefix: ["it's.", 'b.'] }] as RenameRule[]) {
    const word = ruleWord(rule)!;
    assert.equal(splitWords(word).length, 1, `${word} is one word`);
    const back = parseRenameRule(splitWords(word)[0], 't');
    for (const key of ['fc.3/w', 'my prefix.x', "it's.y", 'other']) assert.equal(renameKey(key, back), renameKey(key, rule), `${word} on ${key}`);
  }
  for (const bad of ['nope:x', 'strip:', 'replace:=x', 's/a/b', 's/(/x/', 'map:a']) assert.throws(() => parseRenameRule(bad, 't'), UsageError, bad);
});

test('regular expressions keep their backslashes as written; everything else splits as before', () => {
  const magic: Magic = { name: 't', kind: 'line', summary: '', usage: '%t', options: { rename: { type: 'string', multiple: true } }, run: () => undefined };
  const call = parseMagicCall(magic, String.raw`m /^fc\.0\./ 'a b' --rename s/^x\./y./ --rename=s/\d/n/ plain\ word`);
  assert.deepEqual(call.positionals, ['m', '/^fc.0./', 'a b', 'plain word']);
  const literal = literalWords(call);
  assert.deepEqual(call.positionals.map(literal), ['m', String.raw`/^fc\.0\./`, 'a b', 'plain word']);
  assert.deepEqual((call.options.rename as string[]).map(literal), [String.raw`s/^x\./y./`, String.raw`s/\d/n/`]);
});

test('session values are told apart by their shape', () => {
  const t = { dtype: 'float32', shape: [2], data: new Float32Array(2) };
  const variable = { assign() {}, trainable: true, shape: [2], dtype: 'float32' };
  assert.equal(kindOf(new Map([['a', t]])), 'statedict');
  assert.equal(kindOf(new Map([['a', 1]])), undefined);
  assert.equal(kindOf({ layers: [], getClassName: () => 'Sequential' }), 'model');
  assert.equal(kindOf({ enc: { w: variable }, b: variable }), 'model');
  assert.equal(kindOf({ model: { layers: [], getClassName: () => 'x' }, note: 'not only variables' }), undefined);
  assert.equal(kindOf(['a.kernel', 'b.bias']), 'keys');
  assert.equal(kindOf({ loss: [], epochs: [], drift: { steps: [], layers: [], values: [] }, groups: [], frozen: [], steps: 0 }), 'history');
  assert.equal(kindOf({ steps: [], layers: ['a'], values: [] }), 'drift');
  assert.equal(kindOf({ loaded: ['a'], missing: [], unexpected: [], mismatched: [], ignored: [] }), 'loadreport');
  assert.equal(kindOf({ keys: ['a'], unchanged: [], batchNorm: [] }), 'freezereport');
  assert.equal(kindOf({ entries: new Map() }), 'fingerprint');
  assert.equal(kindOf(3), undefined);
});

test('magics through the kernel: load, diff, rename, freeze, train, check, summary, plot, backend, help, completion', { timeout: 180_000 }, () => {
  requirePython('jupyter_client');
  const prefix = jupyterPrefix();
  let r;
  try {
    r = spawnSync(PYTHON, ['-Xfrozen_modules=off', 'magics_client.py', '-v'], { cwd: __dirname, env: prefix.env, encoding: 'utf8', timeout: 170_000 });
  } finally {
    prefix.remove();
  }
  const tail = (r.stderr + r.stdout).split('\n').slice(-80).join('\n');
  assert.equal(r.status, 0, `magics_client.py failed:\n${tail}`);
  // Every test ran: a silent skip of the whole class would also exit 0.
  const ran = /Ran (\d+) tests/.exec(r.stderr);
  assert.ok(ran && Number(ran[1]) >= 14, `expected at least 14 tests to run:\n${tail}`);
});
