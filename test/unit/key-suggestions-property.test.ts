/**
 * Property: whatever random renames a real key set went through (resnet18, BERT and ViT as zoo
 * models and as keys, torchvision's mobilenet_v2, Hugging Face's BertForSequenceClassification
 * names), no suggestion diffKeys offers ever puts a tensor on a key of another role (a BatchNorm
 * scale into a moving mean, a bias into a kernel, a position table into a word embedding). Roles
 * come from the zoo model's layer table, or from an independent reading of the canonical keys; a
 * fixed set of seeded cases, a few milliseconds each. The counts are printed.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { bertEncoder, diffKeys, keyInfosOf, mobilenetV2, mulberry32, renameKey, resnet18, stateDictOf, visionTransformer, weightSlots, type ModelLike, type RenameRule } from '../../lib';
import { bertKeys, oracleRoles, randomRename, shapeDict, torchvisionKeys, type KeyList } from '../helpers/keysets';
import { requireTorch } from '../helpers/torch';

requireTorch();
const CASES_PER_SET = 40;

interface Tally { cases: number; suggestions: number; landings: number; correct: number; wrongRole: string[]; wrongKeyInOrder: string[]; mapsOffered: number }
const tally: Tally = { cases: 0, suggestions: 0, landings: 0, correct: 0, wrongRole: [], wrongKeyInOrder: [], mapsOffered: 0 };

interface KeySet { name: string; keys: KeyList; roles: Map<string, string>; model?: ModelLike }
let sets: KeySet[] = [];
const model = resnet18({ inputShape: [32, 32, 3], numClasses: 10 });

/** A zoo model's PyTorch keys, with the roles its layer table gives them. */
function zooSet(name: string, m: ModelLike): KeySet {
  const keys = [...stateDictOf(m, { layout: 'torch' })].map(([k, t]): [string, number[]] => [k, t.shape]);
  const roles = new Map(weightSlots(m).map((s) => [s.torchKey, s.role as string]));
  return { name, keys, roles, model: m };
}

before(() => {
  const withOracle = (name: string, keys: KeyList): KeySet => ({ name, keys, roles: oracleRoles(keys) });
  sets = [
    zooSet('resnet18', model),
    withOracle('mobilenet_v2 (torchvision)', torchvisionKeys('mobilenet_v2')),
    zooSet('mobilenet_v2 (zoo)', mobilenetV2({ inputShape: [32, 32, 3] })),
    withOracle('bert (HF names)', bertKeys()),
    zooSet('bert (zoo)', bertEncoder({ vocabSize: 100, hiddenSize: 32, numHiddenLayers: 3, numAttentionHeads: 2, intermediateSize: 64, maxPositionEmbeddings: 64 })),
    zooSet('vit (zoo)', visionTransformer({ imageSize: 32, patchSize: 8, numLayers: 3, numHeads: 2, hiddenDim: 32, mlpDim: 64, numClasses: 5 } as never)),
  ];
});

test('the independent role reading agrees with the layer table on the zoo resnet18 (so it can judge the suggestions)', () => {
  const roles = oracleRoles(sets[0].keys);
  for (const [k, r] of roles) assert.equal(r, sets[0].roles.get(k), k);
  const mb = oracleRoles(sets[1].keys);
  assert.equal(mb.get('features.0.0.weight'), 'kernel');
  assert.equal(mb.get('features.0.1.weight'), 'gamma');
  assert.equal(mb.get('features.0.1.num_batches_tracked'), 'ignored');
  const bert = sets[3].roles;
  // The zoo's mobilenet_v2 has torchvision's keys (num_batches_tracked aside), so both role readings meet on the same keys.
  const tv = new Map(sets[1].keys);
  for (const [k, shape] of sets[2].keys) assert.deepEqual(tv.get(k), shape, k);
  for (const [k, role] of sets[2].roles) assert.equal(mb.get(k), role, k);
  assert.equal(bert.get('bert.embeddings.word_embeddings.weight'), 'embeddings');
  assert.equal(bert.get('bert.encoder.layer.0.attention.output.LayerNorm.bias'), 'beta');
});

test('roles read from key names alone (a bare state dict) equal the zoo models\' and the independent reading, key by key', () => {
  for (const set of sets) {
    const infos = keyInfosOf(new Map(set.keys.map(([k, shape]) => [k, { shape }])));
    for (const [k] of set.keys) {
      const got = infos.get(k)!;
      assert.equal(got.ignored ? 'ignored' : got.role, set.roles.get(k), `${set.name}: ${k}`);
    }
  }
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

test(`random renames of resnet18, mobilenet_v2, BERT and ViT keys (zoo models and their key sets): no suggestion loads a tensor into a slot of another role (${6 * CASES_PER_SET} seeded cases)`, async () => {
  const t0 = Date.now();
  for (const [si, set] of sets.entries()) {
    const { roles } = set;
    const canonical = new Map(set.keys.map(([k]) => [k, k]));
    for (let c = 0; c < CASES_PER_SET; c++) {
      const rand = mulberry32(1000 * (si + 1) + c);
      const r = randomRename(set.keys, rand);
      const label = `${set.name} #${c} [${r.what.join('; ')}]`;
      tally.cases++;
      // Renamed → canonical: every other case into the zoo model itself (roles from its slots), else into the key set.
      const target = set.model && c % 2 === 0 ? set.model : shapeDict(set.keys);
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
  assert.ok(tally.suggestions > 6 * CASES_PER_SET, `too few suggestions to prove anything: ${tally.suggestions}`);
  assert.ok(tally.correct > 0.9 * tally.landings);
});
