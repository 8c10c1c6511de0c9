/**
 * Plot figures built from a real (tiny) training run: parameter counts equal trainableSummary's,
 * frozen rows of the drift heatmap are exactly 0, histogram counts are the weights' own, loss
 * curves are the History's losses; and every figure is plain JSON.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { train } from '../../lib/train/train';
import type { History } from '../../lib/train/history';
import { freeze } from '../../lib/freeze/freeze';
import { trainableSummary } from '../../lib/freeze/summary';
import { stateDictOf } from '../../lib/model/state-dict-of';
import { mulberry32 } from '../../lib/train/data';
import { asFloat32 } from '../../lib/statedict/convert';
import { numel } from '../../lib/statedict/tensor';
import type { StateDict } from '../../lib/statedict/tensor';
import {
  COLORS, driftHeatmapFigure, lossCurvesFigure, parameterCountsFigure, trainingFigure,
  weightChange, weightHistogramFigure, weightHistograms, type PlotlyFigure, type PlotlyTrace,
} from '../../lib/plot';
import { seqNet } from '../helpers/models';

const FROZEN = ['0.kernel', '0.bias', '1.gamma', '1.beta'];

interface Run { model: tf.Sequential; before: StateDict; history: History }

/** seqNet with its conv and BatchNorm frozen, trained 3 epochs on seeded random data (cpu backend). */
const run: Promise<Run> = (async () => {
  await tf.setBackend('cpu');
  const model = seqNet();
  freeze(model, FROZEN);
  const before = stateDictOf(model);
  const rand = mulberry32(7);
  const n = 16;
  const x = tf.tensor4d(Array.from({ length: n * 64 }, () => rand() * 2 - 1), [n, 8, 8, 1]);
  const y = tf.tensor2d(Array.from({ length: n * 2 }, (_, i) => ((i >> 1) % 2 === i % 2 ? 1 : 0)), [n, 2]);
  const history = await train(model, { x, y }, { loss: 'meanSquaredError', epochs: 3, batchSize: 4, lr: 0.05, validationData: { x, y } });
  tf.dispose([x, y]);
  return { model, before, history };
})();

function traceNamed(fig: PlotlyFigure, name: string): PlotlyTrace {
  const t = fig.data.find((d) => d.name === name);
  assert.ok(t, `no trace named '${name}' (have ${fig.data.map((d) => d.name).join(', ')})`);
  return t;
}

function assertPlainJson(fig: PlotlyFigure): void {
  const text = JSON.stringify(fig);
  assert.deepEqual(JSON.parse(text), fig, 'the figure survives a JSON round trip unchanged (no typed arrays, NaN, undefined in arrays, functions)');
  for (const t of fig.data) assert.ok(['bar', 'heatmap', 'scatter'].includes(t.type), `trace type ${t.type}`);
}

test('parameter counts per layer equal trainableSummary, frozen blue and trainable orange, log axis', async () => {
  const { model } = await run;
  const summary = trainableSummary(model);
  const fig = parameterCountsFigure(model);
  assertPlainJson(fig);
  const keys = summary.layers.map((l) => l.key);
  const frozen = traceNamed(fig, 'frozen');
  const stats = traceNamed(fig, 'BatchNorm statistics');
  const trainable = traceNamed(fig, 'trainable');
  for (const t of [frozen, stats, trainable]) assert.deepEqual(t.y, keys);
  assert.deepEqual(trainable.x, summary.layers.map((l) => l.trainable));
  assert.deepEqual(frozen.x!.map((v, i) => (v as number) + (stats.x![i] as number)), summary.layers.map((l) => l.frozen));
  assert.deepEqual(stats.x, summary.layers.map((l) => l.statistics));
  assert.equal((frozen.marker as { color: string }).color, COLORS.frozen);
  assert.equal((trainable.marker as { color: string }).color, COLORS.trainable);
  // The frozen conv has no trainable parameter; the dense layer no frozen one.
  assert.equal(trainable.x![keys.indexOf('0')], 0);
  assert.ok((frozen.x![keys.indexOf('0')] as number) > 0);
  assert.equal(frozen.x![keys.indexOf('4')], 0);
  const layout = fig.layout as { barmode: string; xaxis: { type: string }; yaxis: { type: string } };
  assert.equal(layout.barmode, 'stack');
  assert.equal(layout.xaxis.type, 'log');
  assert.equal(layout.yaxis.type, 'category', 'layer keys such as "0" stay categories, not numbers');
  assert.match(fig.layout.title!.text, new RegExp(`${summary.totals.trainable.toLocaleString('en-US')} trainable`));
  assert.equal((parameterCountsFigure(summary, { log: false }).layout as { xaxis: { type: string } }).xaxis.type, 'linear', 'a summary works as input too');
});

test('drift heatmap: one row per layer, values are History.drift, frozen rows exactly 0 and marked frozen', async () => {
  const { history } = await run;
  const fig = driftHeatmapFigure(history);
  assertPlainJson(fig);
  const heat = traceNamed(fig, 'drift');
  const d = history.drift;
  assert.deepEqual(heat.x, d.steps);
  assert.deepEqual(heat.y, d.layers);
  assert.ok(d.steps.length >= 4, `drift sampled ${d.steps.length} times`);
  d.layers.forEach((layer, j) => assert.deepEqual(heat.z![j], d.values.map((row) => row[j]), `row of ${layer}`));
  const status = traceNamed(fig, 'frozen or trainable');
  const kinds = (status.text as string[][]).map((r) => r[0]);
  assert.deepEqual(Object.fromEntries(d.layers.map((l, j) => [l, kinds[j]])), { 0: 'frozen', 1: 'frozen', 4: 'trainable', 'head.fc': 'trainable' });
  for (const [j, layer] of d.layers.entries()) {
    const row = heat.z![j];
    if (kinds[j] === 'frozen') assert.ok(row.every((v) => v === 0), `frozen layer ${layer} drifted: ${row}`);
    else assert.ok((row[row.length - 1] as number) > 0, `trainable layer ${layer} did not move`);
  }
  const h = fig.layout.height!;
  const big = driftHeatmapFigure({ steps: [0, 1], layers: Array.from({ length: 200 }, (_, i) => `l${i}`), values: [new Array(200).fill(0), new Array(200).fill(1)] });
  assert.ok(h >= 200 && h <= 400, `4 layers: ${h} px`);
  assert.ok(big.layout.height! > 1500 && big.layout.height! <= 2400, `200 layers: ${big.layout.height} px`);
  assert.equal(big.data.length, 1, 'a bare Drift without frozenLayers has no status strip');
});

test('weight histograms: counts are the weights binned, frozen initial = final, trainable moved', async () => {
  const { model, before } = await run;
  const change = weightChange(model, before);
  assert.deepEqual([...change.frozen].sort(), [...FROZEN, '1.moving_mean', '1.moving_variance'].sort(), 'frozen: the frozen weights and the frozen BatchNorm layer statistics');
  const bins = weightHistograms(change, { bins: 25 });
  const after = stateDictOf(model);
  for (const group of ['frozen', 'trainable'] as const) {
    const b = bins[group]!;
    assert.equal(b.edges.length, 26);
    const keys = [...after.keys()].filter((k) => change.frozen.has(k) === (group === 'frozen'));
    assert.deepEqual(b.keys, keys);
    const values = (sd: StateDict) => keys.flatMap((k) => Array.from(asFloat32(sd.get(k)!)));
    for (const [phase, sd] of [['initial', before], ['final', after]] as const) {
      const v = values(sd);
      assert.equal(b.count, v.length);
      assert.equal(b[phase].reduce((a, c) => a + c, 0), v.length, `${group} ${phase}: every weight in a bin`);
      // Count each bin by brute force against the edges.
      const brute = b.edges.slice(0, -1).map((lo, i) => v.filter((x) => x >= lo && (i === 24 ? x <= b.edges[25] : x < b.edges[i + 1])).length);
      assert.deepEqual(b[phase], brute, `${group} ${phase} counts`);
    }
    assert.equal(b.count, keys.reduce((a, k) => a + numel(after.get(k)!.shape), 0));
  }
  assert.deepEqual(bins.frozen!.final, bins.frozen!.initial, 'frozen weights did not move');
  assert.notDeepEqual(bins.trainable!.final, bins.trainable!.initial, 'trainable weights moved');

  const fig = weightHistogramFigure(change, { bins: 25 });
  assertPlainJson(fig);
  assert.deepEqual(traceNamed(fig, 'frozen: initial').y, bins.frozen!.initial);
  assert.deepEqual(traceNamed(fig, 'trainable: final').y, bins.trainable!.final);
  assert.equal((traceNamed(fig, 'frozen: final').marker as { color: string }).color, COLORS.frozen);
  assert.equal((traceNamed(fig, 'trainable: final').marker as { color: string }).color, COLORS.trainable);
  const notes = (fig.layout.annotations as Array<{ text: string }>).map((a) => a.text);
  assert.deepEqual(notes, ['frozen: final = initial', 'trainable: moved']);

  assert.throws(() => weightHistograms({ before: new Map(), after, frozen: new Set() }), /no weight is in both state dicts.*stateDictOf\(model\)/);
  const wrong = new Map(before);
  wrong.set('4.kernel', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
  assert.throws(() => weightHistograms({ before: wrong, after, frozen: new Set() }), /'4\.kernel' has shape \[1\] before/);
  assert.deepEqual(Object.keys(weightHistograms(change, { include: /^head\./ })), ['trainable'], 'include picks keys; an empty group has no panel');
});

test('loss curves are the History: every step, epoch loss at the end of each epoch, validation loss', async () => {
  const { history } = await run;
  const fig = lossCurvesFigure(history);
  assertPlainJson(fig);
  const steps = traceNamed(fig, 'loss per step');
  assert.deepEqual(steps.y, history.loss);
  assert.deepEqual(steps.x, history.loss.map((_, i) => i + 1));
  const epoch = traceNamed(fig, 'epoch loss');
  assert.deepEqual(epoch.y, history.epochs.map((e) => e.loss));
  assert.deepEqual(epoch.x, [4, 8, 12], '16 samples in batches of 4: 4 steps an epoch');
  assert.deepEqual(traceNamed(fig, 'validation loss').y, history.epochs.map((e) => e.valLoss));
  assert.match(fig.layout.title!.text, /epoch 3/);

  // A long run is shown as means of consecutive steps; a NaN step is a gap, not a crash.
  const loss = Array.from({ length: 10_000 }, (_, i) => i % 10);
  loss[5] = NaN;
  const long = traceNamed(lossCurvesFigure({ loss, epochs: [] }, { maxPoints: 1000 }), 'loss per step (mean of 10)');
  assert.equal(long.y!.length, 1000);
  assert.ok(Math.abs((long.y![1] as number) - 4.5) < 1e-12);
  assert.ok(Math.abs((long.y![0] as number) - 40 / 9) < 1e-12, 'NaN left out of its bucket mean');
  assert.deepEqual(traceNamed(lossCurvesFigure({ loss: [1, NaN, 2], epochs: [] }), 'loss per step').y, [1, null, 2]);
});

test('training figure: loss on top, drift below on a step axis matched to the loss', async () => {
  const { history } = await run;
  const fig = trainingFigure(history);
  assertPlainJson(fig);
  const heat = traceNamed(fig, 'drift');
  assert.equal(heat.xaxis, 'x2');
  assert.equal((fig.layout as { xaxis2: { matches: string } }).xaxis2.matches, 'x');
  assert.deepEqual(traceNamed(fig, 'loss per step').y, history.loss);
  const y = fig.layout as { yaxis: { domain: number[] }; yaxis2: { domain: number[] } };
  assert.ok(y.yaxis.domain[0] > y.yaxis2.domain[1], 'loss panel above the drift panel, no overlap');
  assert.equal(trainingFigure({ loss: [1, 2], epochs: [] }).data.length, 1, 'no drift: loss only');
});
