/**
 * Property: whatever random renames a real key set went through (resnet18 as a zoo model and as
 * keys, torchvision's mobilenet_v2, a Hugging Face BERT), no suggestion diffKeys offers ever puts a
 * tensor on a key of another role (a BatchNorm scale into a moving mean, a bias into a kernel).
 * Roles are checked against an independent reading of the canonical keys; a fixed set of seeded
 * cases, a few milliseconds each. The counts are printed.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { diffKeys, mulberry32, renameKey, resnet18, stateDictOf, weightSlots, type RenameRule } from '../../lib';
import { bertKeys, oracleRoles, randomRename, shapeDict, torchvisionKeys, type KeyList } from '../helpers/keysets';
import { requireTorch } from '../helpers/torch';

requireTorch();
const CASES_PER_SET = 60;

interface Tally { cases: number; suggestions: number; landings: number; correct: number; wrongRole: string[]; wrongKeyInOrder: string[]; mapsOffered: number }
const tally: Tally = { cases: 0, suggestions: 0, landings: 0, correct: 0, wrongRole: [], wrongKeyInOrder: [], mapsOffered: 0 };

let sets: Array<{ name: string; keys: KeyList }> = [];
const model = resnet18({ inputShape: [32, 32, 3], numClasses: 10 });

before(() => {
  const rn18 = [...stateDictOf(model, { layout: 'torch' })].map(([k, t]): [string, number[]] => [k, t.shape]);
  sets = [
    { name: 'resnet18', keys: rn18 },
    { name: 'mobilenet_v2', keys: torchvisionKeys('mobilenet_v2') },
    { name: 'bert', keys: bertKeys() },
  ];
});

test('the independent role reading agrees with the layer table on the zoo resnet18 (so it can judge the suggestions)', () => {
  const roles = oracleRoles(sets[0].keys);
  const entries = new Map(weightSlots(model).map((s) => [s.torchKey, s.role]));
  for (const [k, r] of roles) assert.equal(r, entries.get(k), k);
  const mb = oracleRoles(sets[1].keys);
  assert.equal(mb.get('features.0.0.weight'), 'kernel');
  assert.equal(mb.get('features.0.1.weight'), 'gamma');
  assert.equal(mb.get('features.0.1.num_batches_tracked'), 'ignored');
  const bert = oracleRoles(sets[2].keys);
  assert.equal(bert.get('bert.embeddings.word_embeddings.weight'), 'embeddings');
  assert.equal(bert.get('bert.encoder.layer.0.attention.output.LayerNorm.bias'), 'beta');
});

/** Checks every suggestion of one diff: each tensor that lands on a key of `canonical` has that key's role. */
function checkSuggestions(label: string, suggestions: Array<{ rules: RenameRule[]; description: string }>, from: Map<string, string>, to: Map<string, string>, roles: Map<string, string>, ordered: boolean): void {
  for (const s of suggestions) {
    tally.suggestions++;
    if (s.rules.some((r) => 'map' in r)) tally.mapsOffered++;
    for (const [key, canonicalFrom] of from) {
      const landed = s.rules.reduce(renameKey, key);
      const canonicalTo = to.get(landed);
      if (canonicalTo === undefined || landed === key) continue;
      tally.landings++;
      if (canonicalTo === canonicalFrom) { tally.correct++; continue; }
      const line = `${label}: ${s.description}: ${key} (${canonicalFrom}, ${roles.get(canonicalFrom)}) → ${landed} (${canonicalTo}, ${roles.get(canonicalTo)})`;
      if (roles.get(canonicalFrom) !== roles.get(canonicalTo)) tally.wrongRole.push(line);
      else if (ordered) tally.wrongKeyInOrder.push(line);
    }
  }
}

test(`random renames of resnet18, mobilenet_v2 and BERT keys: no suggestion loads a tensor into a slot of another role (${3 * CASES_PER_SET} seeded cases)`, async () => {
  const t0 = Date.now();
  for (const [si, set] of sets.entries()) {
    const roles = oracleRoles(set.keys);
    const canonical = new Map(set.keys.map(([k]) => [k, k]));
    for (let c = 0; c < CASES_PER_SET; c++) {
      const rand = mulberry32(1000 * (si + 1) + c);
      const r = randomRename(set.keys, rand);
      const label = `${set.name} #${c} [${r.what.join('; ')}]`;
      tally.cases++;
      // Renamed → canonical: into the zoo model itself for resnet18 (roles from its slots), else into the key set.
      const target = set.name === 'resnet18' && c % 2 === 0 ? model : shapeDict(set.keys);
      const d = await diffKeys(shapeDict(r.keys), target);
      checkSuggestions(label, d.suggestions, r.original, canonical, roles, r.ordered);
      // And the other way: canonical keys renamed to fit the renamed set.
      const back = await diffKeys(shapeDict(set.keys), shapeDict(r.keys));
      checkSuggestions(`${label} (reverse)`, back.suggestions, canonical, r.original, roles, r.ordered);
    }
  }
  console.log(`property: ${tally.cases} cases (${tally.cases * 2} diffs), ${tally.suggestions} suggestions checked (${tally.mapsOffered} with a key map), ${tally.landings} tensors moved onto a key, ${tally.correct} onto their own, ${tally.wrongRole.length} onto another role's, ${tally.wrongKeyInOrder.length} onto another key of the same role with the order kept; ${Date.now() - t0} ms`);
  assert.deepEqual(tally.wrongRole, [], 'a suggestion put a tensor on a key of another role');
  assert.deepEqual(tally.wrongKeyInOrder, [], 'with the order of the keys kept, a suggestion put a tensor on the wrong key');
  assert.ok(tally.suggestions > 3 * CASES_PER_SET, `too few suggestions to prove anything: ${tally.suggestions}`);
  assert.ok(tally.correct > 0.9 * tally.landings);
});
