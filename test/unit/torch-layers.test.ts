/**
 * The PyTorch-semantics layers (lib/models/layers) against real PyTorch (test/fixtures/zoo/layers_ref.py,
 * one Python run for every case), on cpu and on the default backend: pools with padding, ceil mode
 * and dilation; adaptive average pooling with bins that overlap; every activation with its
 * gradient; BatchNorm in training mode (outputs, gradients, running statistics after several
 * steps); LayerNorm's eps; convolutions with stride, padding, dilation, depthwise and grouped, with
 * the gradients for the input and the weights. Weights go in through the layer table
 * (loadStateDict with PyTorch's keys and layouts); gradients come back through it. Then a zoo
 * model round-trips through model.save and tf.loadLayersModel.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  efficientnet, loadStateDict, mobilenetV3Small, setBackend, stateDictOf, torchActivation, torchAdaptiveAvgPool2d, torchAvgPool2d,
  torchBatchNorm, torchConv2d, torchLayerNorm, torchMaxPool2d, torchStochasticDepth, weightSlots, type ModelLike, type TorchActivationName,
} from '../../lib';
import { toHost } from '../../lib/model/state-dict-of';
import type { StateDict } from '../../lib/statedict/tensor';
import { PYTHON, requireTorch } from '../helpers/torch';
import { tfjsRoundTrip } from '../helpers/zoo';

requireTorch();

interface T { shape: number[]; data: number[] }
interface Grads { output: T; upstream: T; dx: T; dparams: Record<string, T> }
interface Ref extends Partial<Grads> {
  input: T;
  params?: Record<string, T>;
  steps?: Array<{ input: T } & Grads>;
  running_mean?: T;
  running_var?: T;
  eval_output?: T;
}
type Kind = 'maxpool' | 'avgpool' | 'adaptive' | 'act' | 'conv' | 'layernorm' | 'batchnorm';
interface Case { kind: Kind; args: Record<string, unknown>; input: number[]; scale?: number; shift?: number }

const BACKENDS = ['cpu', 'auto'] as const;
/** Float32 rounding, relative to the values' scale (expectClose). */
const TOL = 1e-5;

const pool = (kind: 'maxpool' | 'avgpool', args: Record<string, unknown>, input = [2, 3, 9, 9]): Case => ({ kind, args, input, shift: -1 });
const CASES: Case[] = [
  // Shifted inputs are mostly negative: a pool that padded with zeros instead of −∞ would show it.
  pool('maxpool', { kernel_size: 3, stride: 2, padding: 1 }),
  pool('maxpool', { kernel_size: 3, stride: 2, padding: 1 }, [2, 3, 8, 8]),
  pool('maxpool', { kernel_size: 3, stride: 2, padding: 1, ceil_mode: true }, [2, 3, 8, 8]),
  pool('maxpool', { kernel_size: 2, stride: 2, ceil_mode: true }, [2, 3, 7, 7]),
  pool('maxpool', { kernel_size: 3, stride: 2, ceil_mode: true }, [2, 3, 10, 10]),
  pool('maxpool', { kernel_size: 3, stride: 1, padding: 1, dilation: 2 }),
  pool('maxpool', { kernel_size: [3, 2], stride: [2, 1], padding: [1, 0] }, [2, 3, 9, 6]),
  pool('avgpool', { kernel_size: 3, stride: 2, padding: 1 }),
  pool('avgpool', { kernel_size: 3, stride: 2, padding: 1, count_include_pad: false }),
  pool('avgpool', { kernel_size: 3, stride: 2, ceil_mode: true }, [2, 3, 8, 8]),
  pool('avgpool', { kernel_size: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: false }, [2, 3, 8, 8]),
  pool('avgpool', { kernel_size: 3, stride: 2, padding: 1, ceil_mode: true }, [2, 3, 8, 8]),
  pool('avgpool', { kernel_size: 2, stride: 2, padding: 1, ceil_mode: true }, [2, 3, 7, 7]),
  { kind: 'adaptive', args: { output_size: 3 }, input: [2, 3, 7, 7] },
  { kind: 'adaptive', args: { output_size: 4 }, input: [2, 3, 10, 10] },
  { kind: 'adaptive', args: { output_size: [4, 3] }, input: [2, 3, 9, 5] },
  { kind: 'adaptive', args: { output_size: 7 }, input: [2, 3, 2, 3] },
  { kind: 'adaptive', args: { output_size: 4 }, input: [2, 3, 8, 8] },
  { kind: 'adaptive', args: { output_size: 1 }, input: [2, 3, 5, 6] },
  ...(['relu', 'relu6', 'sigmoid', 'tanh', 'silu', 'hardsigmoid', 'hardswish', 'gelu', 'gelu_tanh'] as TorchActivationName[])
    .map((name): Case => ({ kind: 'act', args: { name }, input: [4, 250], scale: 4 })),
  { kind: 'batchnorm', args: { num_features: 4, steps: 3 }, input: [3, 4, 5, 5] },
  { kind: 'batchnorm', args: { num_features: 4, eps: 0.001, momentum: 0.01, steps: 3 }, input: [2, 4, 3, 3] },
  { kind: 'layernorm', args: { normalized_shape: 8 }, input: [2, 5, 8] },
  { kind: 'layernorm', args: { normalized_shape: 8, eps: 0.5 }, input: [2, 5, 8], scale: 0.5 },
  { kind: 'conv', args: { in_channels: 3, out_channels: 4, kernel_size: 3, stride: 2, padding: 1 }, input: [2, 3, 9, 9] },
  { kind: 'conv', args: { in_channels: 3, out_channels: 4, kernel_size: 3, stride: 2, padding: 1 }, input: [2, 3, 8, 8] },
  { kind: 'conv', args: { in_channels: 3, out_channels: 4, kernel_size: 1, stride: 2, bias: false }, input: [2, 3, 9, 9] },
  { kind: 'conv', args: { in_channels: 3, out_channels: 5, kernel_size: 7, stride: 2, padding: 3 }, input: [2, 3, 11, 11] },
  { kind: 'conv', args: { in_channels: 4, out_channels: 6, kernel_size: 3, padding: 2, dilation: 2 }, input: [2, 4, 8, 8] },
  { kind: 'conv', args: { in_channels: 4, out_channels: 4, kernel_size: 3, stride: 2, padding: 1, groups: 4 }, input: [2, 4, 8, 8] },
  { kind: 'conv', args: { in_channels: 3, out_channels: 6, kernel_size: 3, padding: 1, groups: 3 }, input: [2, 3, 7, 7] },
  { kind: 'conv', args: { in_channels: 4, out_channels: 4, kernel_size: 5, padding: 4, dilation: 2, groups: 4, bias: false }, input: [2, 4, 9, 9] },
  { kind: 'conv', args: { in_channels: 4, out_channels: 6, kernel_size: 3, padding: 1, groups: 2 }, input: [2, 4, 6, 6] },
  { kind: 'conv', args: { in_channels: 3, out_channels: 4, kernel_size: [3, 1], stride: [2, 1], padding: [1, 0] }, input: [2, 3, 9, 5] },
];

let refs: Ref[];
before(() => {
  refs = JSON.parse(execFileSync(PYTHON, [join(__dirname, '..', 'fixtures', 'zoo', 'layers_ref.py'), JSON.stringify(CASES)], { encoding: 'utf8', maxBuffer: 64 << 20 })) as Ref[];
});

/** A PyTorch-layout tensor as TF.js's: NCHW -> NHWC. */
function fromTorch(t: T): tf.Tensor {
  const x = tf.tensor(t.data, t.shape, 'float32');
  if (t.shape.length !== 4) return x;
  const y = tf.transpose(x, [0, 2, 3, 1]);
  x.dispose();
  return y;
}

/** max |got − want|, `got` an activation in TF.js's layout (NHWC) or a weight already in PyTorch's, `want` in PyTorch's; checks the shapes. */
function diff(got: tf.Tensor, want: T, what: string, weight: boolean): number {
  const g = got.rank === 4 && !weight ? tf.transpose(got, [0, 3, 1, 2]) : got;
  assert.deepEqual(g.shape, want.shape, `${what}: shape ${JSON.stringify(g.shape)}, PyTorch's ${JSON.stringify(want.shape)}`);
  const v = g.dataSync();
  if (g !== got) g.dispose();
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i] - want.data[i]));
  return m;
}

/** Worst difference per check and backend, relative to the reference's scale max(1, max |want|), printed for the record. */
const worst: Record<string, number> = {};
/** Asserts |got − want| ≤ tol · max(1, max |want|): float32 rounding grows with the values (a weight gradient sums 100+ products). */
function expectClose(got: tf.Tensor, want: T, what: string, tol = TOL, weight = false): void {
  const scale = Math.max(1, ...want.data.map(Math.abs));
  const d = diff(got, want, what, weight) / scale;
  const key = `${what.split(' ')[0]} ${tf.getBackend()}`;
  worst[key] = Math.max(worst[key] ?? 0, d);
  assert.ok(d <= tol, `${what} on ${tf.getBackend()}: differs from PyTorch by ${d * scale} (values up to ${scale}; allowed ${tol * scale})`);
}

function camel(args: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(args).map(([k, v]) => [k.replace(/_(\w)/g, (_, c: string) => c.toUpperCase()), v]));
}

function label(c: Case): string {
  return `${c.kind} ${JSON.stringify(c.args)} on ${JSON.stringify(c.input)}`;
}

/** A one-layer model holding `layer`, with PyTorch's parameters loaded strictly through the layer table. */
async function holding(layer: tf.layers.Layer, params: Record<string, T>): Promise<tf.Sequential> {
  const model = tf.sequential({ layers: [layer] });
  const sd: StateDict = new Map(Object.entries(params).map(([k, t]) => [`${layer.name}.${k}`, { dtype: 'float32', shape: t.shape, data: Float32Array.from(t.data) }]));
  await loadStateDict(model, sd, { strict: true, from: 'torch' });
  return model;
}

/** f(x) and the gradients of sum(f(x) · upstream) for x and each weight of `model`, weights in PyTorch's layout and naming; f runs once. */
function gradsOf(model: tf.Sequential, f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, upstream: tf.Tensor): { y: tf.Tensor; dx: tf.Tensor; dparams: Map<string, tf.Tensor> } {
  const xv = tf.variable(x);
  const slots = weightSlots(model as ModelLike).filter((s) => s.trainable);
  let y: tf.Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    y = tf.keep(f(xv));
    return tf.sum(tf.mul(y, upstream));
  }, [xv, ...slots.map((s) => s.variable)]);
  value.dispose();
  const dparams = new Map(slots.map((s) => {
    const h = s.toTorch(toHost(grads[s.variable.name]));
    return [s.torchKey.split('.').pop() as string, tf.tensor(h.data as Float32Array, h.shape)] as const;
  }));
  const dx = grads[xv.name];
  for (const [k, g] of Object.entries(grads)) if (k !== xv.name) g.dispose();
  xv.dispose();
  return { y: y as tf.Tensor, dx, dparams };
}

/** Runs `body` on cpu and on the default backend. */
async function onEveryBackend(body: () => Promise<void> | void): Promise<void> {
  const before = tf.getBackend();
  try {
    for (const b of BACKENDS) {
      await setBackend(b);
      await body();
    }
  } finally {
    await setBackend(before as 'cpu');
  }
}

function eachCase(kinds: Kind[], body: (c: Case, r: Ref) => Promise<void> | void): Promise<void> {
  return onEveryBackend(async () => {
    for (const [i, c] of CASES.entries()) if (kinds.includes(c.kind)) await body(c, refs[i]);
  });
}

test('MaxPool2d, AvgPool2d and AdaptiveAvgPool2d give PyTorch\'s outputs (padding, ceil mode, dilation, count_include_pad, overlapping bins)', async () => {
  await eachCase(['maxpool', 'avgpool', 'adaptive'], (c, r) => {
    const args = camel(c.args) as never;
    const layer = c.kind === 'maxpool' ? torchMaxPool2d(args) : c.kind === 'avgpool' ? torchAvgPool2d(args) : torchAdaptiveAvgPool2d(args);
    tf.tidy(() => {
      const x = fromTorch(r.input);
      const y = layer.apply(x) as tf.Tensor;
      // The layer's static output shape is the one it computes.
      assert.deepEqual(layer.computeOutputShape(x.shape), y.shape, `${label(c)}: computeOutputShape`);
      expectClose(y, r.output as T, `pool ${label(c)}`, 1e-6);
    });
  });
});

test('every torchActivation matches PyTorch\'s module, value and gradient (GELU erf and tanh, Hardswish, Hardsigmoid, SiLU, ...)', async () => {
  await eachCase(['act'], (c, r) => {
    tf.tidy(() => {
      const layer = torchActivation(c.args.name as TorchActivationName);
      const x = fromTorch(r.input);
      expectClose(layer.apply(x) as tf.Tensor, r.output as T, `activation ${label(c)}`, 1e-6);
      const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(layer.apply(v) as tf.Tensor, fromTorch(r.upstream as T))))(x);
      expectClose(dx, r.dx as T, `activation-grad ${label(c)}`, 1e-5);
    });
  });
});

test('torchConv2d matches nn.Conv2d: outputs, dx and dW (stride-2 padding, dilation, depthwise, channel multiplier, grouped)', async () => {
  await eachCase(['conv'], async (c, r) => {
    const a = c.args as { out_channels: number; kernel_size: number | [number, number]; stride?: number; padding?: number; dilation?: number; groups?: number; bias?: boolean };
    const [, cin, h, w] = c.input;
    const layer = torchConv2d({ name: 'conv', inputShape: [h, w, cin], filters: a.out_channels, kernelSize: a.kernel_size, stride: a.stride, padding: a.padding, dilation: a.dilation, groups: a.groups, useBias: a.bias });
    const model = await holding(layer, r.params as Record<string, T>);
    const x = fromTorch(r.input);
    const up = fromTorch(r.upstream as T);
    tf.tidy(() => expectClose(model.predict(x) as tf.Tensor, r.output as T, `conv ${label(c)}`));
    const g = gradsOf(model, (v) => model.apply(v) as tf.Tensor, x, up);
    expectClose(g.dx, r.dx as T, `conv-dx ${label(c)}`);
    assert.deepEqual([...g.dparams.keys()].sort(), Object.keys(r.dparams as object).sort());
    for (const [k, t] of g.dparams) expectClose(t, (r.dparams as Record<string, T>)[k], `conv-d${k} ${label(c)}`, TOL, true);
    tf.dispose([x, up, g.y, g.dx, ...g.dparams.values()]);
    model.dispose();
  });
});

test('torchBatchNorm in training mode matches nn.BatchNorm2d.train(): outputs, gradients and running statistics after 3 steps, then eval', async () => {
  await eachCase(['batchnorm'], async (c, r) => {
    const a = c.args as { eps?: number; momentum?: number };
    const [, ch, h, w] = c.input;
    const layer = torchBatchNorm({ name: 'bn', inputShape: [h, w, ch], eps: a.eps, momentum: a.momentum });
    const model = await holding(layer, r.params as Record<string, T>);
    for (const [s, step] of (r.steps ?? []).entries()) {
      const x = fromTorch(step.input);
      const up = fromTorch(step.upstream);
      // One forward pass per step, as in PyTorch: it is the step's update of the running statistics.
      const g = gradsOf(model, (v) => layer.apply(v, { training: true }) as tf.Tensor, x, up);
      expectClose(g.y, step.output, `bn-train ${label(c)} step ${s}`);
      expectClose(g.dx, step.dx, `bn-dx ${label(c)} step ${s}`);
      for (const [k, t] of g.dparams) expectClose(t, step.dparams[k], `bn-d${k} ${label(c)} step ${s}`);
      tf.dispose([x, up, g.y, g.dx, ...g.dparams.values()]);
    }
    const sd = stateDictOf(model as ModelLike, { layout: 'torch' });
    const stat = (k: string) => { const t = sd.get(`bn.${k}`); assert.ok(t, `bn.${k}`); return tf.tensor(t.data as Float32Array, t.shape); };
    expectClose(stat('running_mean'), r.running_mean as T, `bn-running_mean ${label(c)}`);
    expectClose(stat('running_var'), r.running_var as T, `bn-running_var ${label(c)}`);
    tf.tidy(() => expectClose(model.predict(fromTorch(r.input)) as tf.Tensor, r.eval_output as T, `bn-eval ${label(c)}`));
    model.dispose();
  });
});

test('torchLayerNorm matches nn.LayerNorm (eps 1e-5, and a large eps that dominates the variance): outputs, dx, dweight, dbias', async () => {
  await eachCase(['layernorm'], async (c, r) => {
    const a = c.args as { normalized_shape: number; eps?: number };
    const layer = torchLayerNorm({ name: 'ln', inputShape: c.input.slice(1), eps: a.eps });
    const model = await holding(layer, r.params as Record<string, T>);
    const x = fromTorch(r.input);
    const up = fromTorch(r.upstream as T);
    tf.tidy(() => expectClose(model.predict(x) as tf.Tensor, r.output as T, `layernorm ${label(c)}`));
    const g = gradsOf(model, (v) => model.apply(v) as tf.Tensor, x, up);
    expectClose(g.dx, r.dx as T, `layernorm-dx ${label(c)}`);
    for (const [k, t] of g.dparams) expectClose(t, (r.dparams as Record<string, T>)[k], `layernorm-d${k} ${label(c)}`);
    tf.dispose([x, up, g.y, g.dx, ...g.dparams.values()]);
    model.dispose();
  });
  console.log('worst differences from PyTorch by check and backend:', worst);
});

test('torchStochasticDepth: in training each sample is dropped or scaled by 1/(1 − p) as a whole, in eval it is the identity', () => {
  tf.tidy(() => {
    const layer = torchStochasticDepth({ p: 0.5 });
    const x = tf.add(tf.abs(tf.randomNormal([64, 3, 3, 2])), 0.1);
    assert.equal(tf.max(tf.abs(tf.sub(layer.apply(x) as tf.Tensor, x))).dataSync()[0], 0);
    const ratio = tf.div(layer.apply(x, { training: true }) as tf.Tensor, x);
    const perSample = tf.max(ratio, [1, 2, 3]).dataSync();
    assert.deepEqual(tf.min(ratio, [1, 2, 3]).dataSync(), perSample, 'one draw per sample (row mode)');
    assert.ok([...perSample].every((r) => r === 0 || Math.abs(r - 2) < 1e-6), `ratios ${[...perSample]}`);
    const kept = [...perSample].filter((r) => r > 0).length;
    assert.ok(kept > 8 && kept < 56, `${kept} of 64 samples kept with p = 0.5`);
  });
});

test('zoo models round-trip through model.save and tf.loadLayersModel: same PyTorch keys, same weights, same outputs', async () => {
  const models = [
    mobilenetV3Small({ inputShape: [32, 32, 3], numClasses: 5 }),
    efficientnet({ widthMult: 0.25, depthMult: 0.5, inputShape: [32, 32, 3], numClasses: 3, name: 'tiny_efficientnet' }),
  ];
  for (const model of models) {
    const back = await tfjsRoundTrip(model);
    const classes = new Set(back.layers.map((l) => l.getClassName()));
    for (const cls of ['TorchConv2D', 'TorchBatchNorm', 'TorchActivation', 'AdaptiveAvgPool2D', 'TorchFlatten']) assert.ok(classes.has(cls), `${model.name}: ${cls} after loading`);
    if (model.name === 'tiny_efficientnet') assert.ok(classes.has('StochasticDepth'));
    const a = stateDictOf(model as ModelLike, { layout: 'torch' });
    const b = stateDictOf(back as ModelLike, { layout: 'torch' });
    assert.deepEqual([...b.keys()], [...a.keys()], `${model.name}: keys (and their order) after loading`);
    for (const [k, t] of a) assert.deepEqual(b.get(k)?.data, t.data, `${model.name}: ${k} after loading`);
    tf.tidy(() => {
      const x = tf.randomNormal([2, 32, 32, 3]);
      const d = tf.max(tf.abs(tf.sub(model.predict(x) as tf.Tensor, back.predict(x) as tf.Tensor))).dataSync()[0];
      assert.equal(d, 0, `${model.name}: outputs after loading differ by ${d}`);
    });
    model.dispose();
    back.dispose();
  }
});
