/**
 * Importing tsfreeze and letting it pick a backend prints nothing on stderr: no TF.js "install our
 * node backend" banner (it comes from the cpu backend's first tensor) and nothing from probing
 * WebGPU. Run in a fresh process, since the banner prints once per process.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

/** Runs `body` (CommonJS, with `tsfreeze` and `tf` in scope) in a fresh Node with tsx; returns its output. */
function runFresh(body: string): { stdout: string; stderr: string; status: number | null } {
  const script = `
    const tsfreeze = require(${JSON.stringify(path.join(ROOT, 'lib/index.ts'))});
    const tf = require('@tensorflow/tfjs');
    (async () => { ${body} })().catch((e) => { process.stdout.write('FAILED ' + e.stack); process.exitCode = 1; });`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

test("import tsfreeze, setBackend('auto'), train a step: nothing on stderr", () => {
  const r = runFresh(`
    const info = await tsfreeze.setBackend('auto');
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
    await tsfreeze.train(model, { x: tf.ones([4, 3]), y: tf.ones([4, 2]) }, { loss: 'meanSquaredError', epochs: 1, batchSize: 4 });
    console.log('backend', info.name);`);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^backend \w+/m);
  assert.equal(r.stderr, '', 'stderr must stay empty');
});

test("setBackend('cpu') does not print TF.js's banner, and leaves TF.js's PROD flag as it was", () => {
  const r = runFresh(`
    const info = await tsfreeze.setBackend('cpu');
    tf.add(tf.ones([2]), tf.ones([2])).dataSync();
    console.log('backend', info.name, 'PROD', tf.env().getBool('PROD'));`);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^backend cpu PROD false$/m);
  assert.equal(r.stderr, '', 'stderr must stay empty');
});

test('control: TF.js alone does print the banner on the cpu backend (so the tests above can fail)', () => {
  const r = runFresh(`
    await tf.setBackend('cpu');
    tf.ones([2]).dataSync();`);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stderr, /looks like you are running TensorFlow\.js in Node\.js/);
});
