/** model.save('file://…') and tf.loadLayersModel('file://…') in Node without tfjs-node, through tsfreeze's writer and reader. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fileSystem, readCheckpoint } from '../../lib';

const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-tfjs-io-'));
before(async () => { await tf.setBackend('cpu'); });
after(() => rmSync(dir, { recursive: true, force: true }));

/** A model of about 4.6 MB of weights: more than one default 4 MiB shard. */
function makeModel(seed: number): tf.LayersModel {
  const model = tf.sequential({ layers: [
    tf.layers.dense({ inputShape: [64], units: 1100, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
    tf.layers.dense({ units: 1000, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }) }),
  ] });
  model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
  return model;
}

const input = tf.randomNormal([4, 64], 0, 1, 'float32', 7);
const outputOf = (m: tf.LayersModel) => Array.from((m.predict(input) as tf.Tensor).dataSync());

/** The shard files a model.json lists. */
function shards(modelJson: string): string[] {
  return (JSON.parse(readFileSync(modelJson, 'utf8')) as { weightsManifest: Array<{ paths: string[] }> }).weightsManifest.flatMap((g) => g.paths);
}

test("model.save('file://dir') writes dir/model.json and its shards; tf.loadLayersModel('file://dir/model.json') gives the same outputs", async () => {
  const model = makeModel(1);
  const out = join(dir, 'saved');
  const result = await model.save(`file://${out}`);
  assert.ok(result.modelArtifactsInfo.weightDataBytes > 4 * 2 ** 20);
  const listed = shards(join(out, 'model.json'));
  assert.equal(listed.length, 2, 'two 4 MiB shards');
  assert.deepEqual(readdirSync(out).sort(), ['model.json', ...listed].sort());
  const back = await tf.loadLayersModel(`file://${join(out, 'model.json')}`);
  assert.deepEqual(outputOf(back), outputOf(model));
  assert.equal(back.layers.length, 3);
  // The same files read as a checkpoint: every weight, by TF.js name.
  const ck = await readCheckpoint(join(out, 'model.json'));
  assert.equal(ck.stateDict.size, 6);
});

test('fileSystem(path, { shardBytes }) saves many shards; a second save replaces the first whole and leaves none of its shards', async () => {
  const out = join(dir, 'many');
  const first = makeModel(10);
  await first.save(fileSystem(out, { shardBytes: 1 << 20 }));
  const before = shards(join(out, 'model.json'));
  assert.equal(before.length, 5);
  const second = makeModel(20);
  await second.save(fileSystem(out, { shardBytes: 1 << 20 }));
  const afterSave = shards(join(out, 'model.json'));
  assert.deepEqual(readdirSync(out).sort(), ['model.json', ...afterSave].sort(), 'the first save\'s shards are gone');
  assert.equal(afterSave.filter((s) => before.includes(s)).length, 0, 'new names, so a reader never mixes saves');
  const back = await tf.loadLayersModel(`file://${out}`); // a folder loads its model.json
  assert.deepEqual(outputOf(back), outputOf(second));
  assert.notDeepEqual(outputOf(back), outputOf(first));
});

test('tf.loadLayersModel through tsfreeze refuses a shard that leaves the model folder', async () => {
  const out = join(dir, 'hostile');
  await makeModel(3).save(`file://${out}`);
  const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
  const secret = join(dir, 'secret.bin');
  writeFileSync(secret, readFileSync(join(out, json.weightsManifest[0].paths[0])));
  symlinkSync(secret, join(out, 'link.bin'));
  json.weightsManifest[0].paths[0] = 'link.bin';
  writeFileSync(join(out, 'model.json'), JSON.stringify(json));
  await assert.rejects(tf.loadLayersModel(`file://${join(out, 'model.json')}`), /shard 'link\.bin' of weight group 1 resolves through a symbolic link to .*secret\.bin, outside the model's folder/);
});
