/**
 * Benchmark: training steps per second of LeNet5 (seed 003's layout, batch 64, 28x28x1; built as
 * the project builds it, and once more with the ReLUs inside the layers) and of a small
 * conv + BatchNorm net (batch 32, 32x32x3), SGD with momentum 0.9, on one TF.js backend
 * (`--backend`, default what setBackend('auto') picks) and on the cpu backend, with PyTorch
 * measured in the same run (`--torch-device cpu`: 2 threads, OPENBLAS_NUM_THREADS=1; or `cuda`).
 * Every configuration runs in a fresh process, so that its peak RSS is its own; PyTorch and the
 * chosen backend alternate `--repeats` times (3; the machine is noisy) and the medians of their
 * medians are compared.
 *
 * The step is a plain one (tf.variableGrads + optimizer.applyGradients, loss read back every
 * step as PyTorch's loss.item()); tsfreeze's train() is timed too. Then the frozen-weight guard's
 * cost: the model's body frozen (all but the last layer, BatchNorm statistics included), train()
 * with guard off / every epoch / every step, as % of the step. Goals: LeNet5 at least
 * 0.5 x PyTorch's steps per second on CPU; guard under 5 % of a step. Prints medians.
 *
 *   npm run bench:train                                     wasm (auto) vs cpu vs PyTorch, this machine
 *   npm run bench:train -- --no-cpu                         skip the slow cpu backend
 *   npm run bench:train -- --backend webgpu --torch-device cuda --no-cpu   a GPU machine (bench/RESULTS.md)
 * Other flags: --backend tensorflow (tfjs-node-gpu / tfjs-node), --models lenet5,convbn,
 * --repeats N, --python PATH (PyTorch's interpreter), --no-torch, --no-guard.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs as parseFlags } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend, type BackendName } from '../lib/backend';
import { freeze } from '../lib/freeze/freeze';
import { checkFrozen, fingerprint } from '../lib/freeze/guard';
import { train, type GuardEvery } from '../lib/train/train';
import { leNet } from '../test/helpers/models';

type ModelName = 'lenet5' | 'lenet5act' | 'convbn';
type Mode = 'step' | 'train' | 'guard';
type TorchDevice = 'cpu' | 'cuda';
const MODELS: ModelName[] = ['lenet5', 'lenet5act', 'convbn'];
const BACKENDS: BackendName[] = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'];

interface Spec {
  batch: number;
  input: [number, number, number];
  classes: number;
  /** Keys frozen for the guard measurement: the whole body, the last layer trains. */
  body: RegExp;
}

const SPECS: Record<ModelName, Spec> = {
  lenet5: { batch: 64, input: [28, 28, 1], classes: 10, body: /^(conv\.|fc\.[13]\.)/ },
  lenet5act: { batch: 64, input: [28, 28, 1], classes: 10, body: /^[0-6]\./ },
  convbn: { batch: 32, input: [32, 32, 3], classes: 10, body: /^([0-9]|1[01])\./ },
};

/** Warm-up and timed steps per backend (the cpu backend takes seconds a step; WebGPU on a software adapter, a third of one). */
const STEPS: Record<'fast' | 'software' | 'cpu', Record<ModelName, [number, number]>> = {
  fast: { lenet5: [5, 40], lenet5act: [5, 40], convbn: [3, 20] },
  software: { lenet5: [3, 10], lenet5act: [3, 10], convbn: [2, 6] },
  cpu: { lenet5: [1, 3], lenet5act: [1, 3], convbn: [1, 3] },
};

function pace(info: { name: string; software?: boolean }): keyof typeof STEPS {
  return info.name === 'cpu' ? 'cpu' : info.software ? 'software' : 'fast';
}

/** A training epoch of a real data set, for the per-epoch guard's share: MNIST's 60,000 images in batches of 64. */
const MNIST_EPOCH_STEPS = Math.ceil(60000 / 64);

interface Measured {
  backend: string;
  /** Why setBackend chose it (the adapter, for WebGPU). */
  reason?: string;
  median: number;
  steps: number;
  maxRssMiB: number;
  /** TF.js: peak bytes of tensors during one step (tf.profile). */
  tensorPeakMiB?: number;
}

interface GuardMeasured {
  backend: string;
  frozenKeys: number;
  frozenValues: number;
  /** Steps per train() epoch in this measurement. */
  epochSteps: number;
  /** Median step (ms) with the guard off / every epoch / every step (time between onStep calls). */
  step: Record<'off' | 'epoch' | 'step', number>;
  /** Median wall time (ms) of a whole one-epoch train() per setting. */
  run: Record<'off' | 'epoch' | 'step', number>;
  /** Medians of fingerprint() and checkFrozen() on their own (ms). */
  fingerprintMs: number;
  checkMs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * The same network with the ReLUs inside the conv and dense layers (activation: 'relu'). TF.js
 * then runs the convolutions unfused; with a separate ReLU it fuses the bias into FusedConv2D,
 * whose gradient also computes the input's gradient of the first layer (thrown away).
 */
function lenet5act(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 6, kernelSize: 5, padding: 'same', activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 120, activation: 'relu' }),
      tf.layers.dense({ units: 84, activation: 'relu' }),
      tf.layers.dense({ units: 10 }),
    ],
  });
}

function convbn(): tf.Sequential {
  const block = (filters: number, inputShape?: number[]) => [
    tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, ...(inputShape ? { inputShape } : {}) }),
    tf.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9 }),
    tf.layers.reLU(),
  ];
  return tf.sequential({
    layers: [
      ...block(16, [32, 32, 3]), tf.layers.maxPooling2d({ poolSize: 2 }),
      ...block(32), tf.layers.maxPooling2d({ poolSize: 2 }),
      ...block(64), tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 10 }),
    ],
  });
}

function build(model: ModelName): tf.Sequential {
  return model === 'lenet5' ? leNet(false) : model === 'lenet5act' ? lenet5act() : convbn();
}

const logitsLoss = (y: tf.Tensor, logits: tf.Tensor): tf.Scalar => tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;

function batchOf(spec: Spec): { x: tf.Tensor; y: tf.Tensor } {
  return {
    x: tf.randomNormal([spec.batch, ...spec.input]),
    y: tf.oneHot(tf.randomUniform([spec.batch], 0, spec.classes, 'int32'), spec.classes),
  };
}

/** Child process: one model, one backend, a plain step or tsfreeze's train(). */
async function child(model: ModelName, backend: BackendName, mode: 'step' | 'train'): Promise<Measured> {
  const info = await setBackend(backend);
  const spec = SPECS[model];
  const [warm, timed] = STEPS[pace(info)][model];
  const net = build(model);
  const { x, y } = batchOf(spec);
  const times: number[] = [];
  let tensorPeak: number | undefined;

  if (mode === 'step') {
    const optimizer = tf.train.momentum(0.01, 0.9);
    // The loss is read back every step (PyTorch's loss.item()), asynchronously: on a GPU backend
    // that is the read TF.js recommends, and it waits for the step's work to finish.
    const step = async (): Promise<number> => {
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => logitsLoss(y, net.apply(x, { training: true }) as tf.Tensor));
        optimizer.applyGradients(grads as tf.NamedTensorMap as never);
        return value;
      });
      const v = (await loss.data())[0];
      loss.dispose();
      return v;
    };
    for (let i = 0; i < warm; i++) await step();
    for (let i = 0; i < timed; i++) {
      const t0 = performance.now();
      await step();
      times.push(performance.now() - t0);
    }
    tensorPeak = (await tf.profile(() => step())).peakBytes;
  } else {
    // tsfreeze's train(): one epoch of warm + timed batches; a step is the time between onStep calls.
    const n = warm + timed + 1;
    const xs = tf.tile(x, [n, 1, 1, 1]);
    const ys = tf.tile(y, [n, 1]);
    let last = performance.now();
    await train(net, { x: xs, y: ys }, {
      loss: logitsLoss, epochs: 1, batchSize: spec.batch, optimizer: 'sgd', lr: 0.01, momentum: 0.9,
      onStep: (s) => {
        const now = performance.now();
        if (s.step > warm + 1) times.push(now - last);
        last = now;
      },
    });
    tf.dispose([xs, ys]);
  }
  return {
    backend: info.name, reason: info.reason, median: median(times), steps: times.length,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    ...(tensorPeak !== undefined ? { tensorPeakMiB: tensorPeak / 2 ** 20 } : {}),
  };
}

/**
 * Child process: the frozen-weight guard's cost. The model's body is frozen (as after loading a
 * backbone), and one-epoch train() runs with the guard off, every epoch and every step take
 * turns, six rounds after warm-up runs; fingerprint() and checkFrozen() are also timed alone.
 */
async function guardChild(model: ModelName, backend: BackendName): Promise<GuardMeasured> {
  const info = await setBackend(backend);
  const spec = SPECS[model];
  const slow = pace(info) !== 'fast';
  const epochSteps = slow ? 4 : model === 'convbn' ? 20 : 40;
  const net = build(model);
  freeze(net, spec.body);
  const { x, y } = batchOf(spec);
  const xs = tf.tile(x, [epochSteps, 1, 1, 1]);
  const ys = tf.tile(y, [epochSteps, 1]);
  const settings: Record<'off' | 'epoch' | 'step', false | { every: GuardEvery }> = { off: false, epoch: { every: 'epoch' }, step: { every: 'step' } };
  const steps: Record<string, number[]> = { off: [], epoch: [], step: [] };
  const runs: Record<string, number[]> = { off: [], epoch: [], step: [] };
  const once = async (name: 'off' | 'epoch' | 'step', record: boolean): Promise<void> => {
    let last = 0;
    const t0 = performance.now();
    await train(net, { x: xs, y: ys }, {
      loss: logitsLoss, epochs: 1, batchSize: spec.batch, optimizer: 'sgd', lr: 0.01, momentum: 0.9, guard: settings[name],
      onStep: (s) => {
        const now = performance.now();
        if (record && s.step > 1) steps[name].push(now - last);
        last = now;
      },
    });
    if (record) runs[name].push(performance.now() - t0);
  };
  await once('step', false);
  await once('off', false);
  const order = ['off', 'epoch', 'step'] as const;
  for (let round = 0; round < (slow ? 3 : 6); round++) {
    // Each setting takes every place in the order twice, so that none always follows the same one.
    for (let i = 0; i < 3; i++) await once(order[(i + round) % 3], true);
  }
  const fps: number[] = [];
  const checks: number[] = [];
  let fp = fingerprint(net);
  for (let i = 0; i < (slow ? 11 : 31); i++) {
    const t0 = performance.now();
    fp = fingerprint(net);
    const t1 = performance.now();
    checkFrozen(net, fp);
    checks.push(performance.now() - t1);
    fps.push(t1 - t0);
  }
  tf.dispose([x, y, xs, ys]);
  let frozenValues = 0;
  for (const e of fp.entries.values()) frozenValues += e.values.length;
  return {
    backend: info.name, frozenKeys: fp.entries.size, frozenValues, epochSteps,
    step: { off: median(steps.off), epoch: median(steps.epoch), step: median(steps.step) },
    run: { off: median(runs.off), epoch: median(runs.epoch), step: median(runs.step) },
    fingerprintMs: median(fps), checkMs: median(checks),
  };
}

const TORCH = String.raw`
import json, resource, statistics, sys, time
import torch, torch.nn as nn
model, warm, timed, device = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(2)
torch.manual_seed(0)
if model.startswith('lenet5'):
    net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
                        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    x = torch.randn(64, 1, 28, 28); y = torch.randint(0, 10, (64,))
else:
    def block(i, o): return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o, eps=1e-5, momentum=0.1), nn.ReLU()]
    net = nn.Sequential(*block(3, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2), *block(32, 64),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    x = torch.randn(32, 3, 32, 32); y = torch.randint(0, 10, (32,))
net, x, y = net.to(device), x.to(device), y.to(device)
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()
net.train()
def step():
    opt.zero_grad(); loss = loss_fn(net(x), y); loss.backward(); opt.step(); return loss.item()
for _ in range(warm): step()
ts = []
for _ in range(timed):
    t0 = time.perf_counter(); step(); ts.append((time.perf_counter() - t0) * 1000)
name = torch.cuda.get_device_name(0) if device == 'cuda' else 'CPU, %d threads' % torch.get_num_threads()
print(json.dumps({'median': statistics.median(ts), 'steps': timed, 'maxRssMiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  'version': torch.__version__, 'device': name}))
`;

interface TorchMeasured extends Measured {
  version: string;
  device: string;
}

function torch(python: string, model: ModelName, device: TorchDevice): TorchMeasured {
  const [warm, timed] = device === 'cuda' ? [30, 100] : model.startsWith('lenet5') ? [10, 60] : [5, 40];
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1' };
  const out = JSON.parse(execFileSync(python, ['-c', TORCH, model, String(warm), String(timed), device], { encoding: 'utf8', env })) as TorchMeasured;
  return { ...out, backend: 'PyTorch' };
}

function runChild<T>(args: string[]): T {
  const out = execFileSync(process.execPath, [...process.execArgv, __filename, '--child', ...args], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20,
  });
  const line = out.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as T;
}

function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 0.1 ? ms.toFixed(2) : ms.toFixed(3);
}

function ratio(r: number): string {
  return r >= 0.01 ? r.toFixed(2) : r.toPrecision(2);
}

function pct(part: number, whole: number): string {
  const p = (100 * part) / whole;
  return `${Math.abs(p) >= 10 ? p.toFixed(0) : Math.abs(p) >= 0.1 ? p.toFixed(1) : p.toFixed(2)} %`;
}

interface Args {
  backend: BackendName;
  withCpu: boolean;
  torchDevice: TorchDevice;
  python: string;
  models: ModelName[];
  repeats: number;
  withTorch: boolean;
  withGuard: boolean;
}

function parseArgs(argv: string[]): Args {
  const { values } = parseFlags({
    args: argv,
    options: {
      backend: { type: 'string', default: 'auto' },
      'torch-device': { type: 'string', default: 'cpu' },
      models: { type: 'string', default: MODELS.join(',') },
      repeats: { type: 'string', default: '3' },
      python: { type: 'string', default: existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3' },
      'no-cpu': { type: 'boolean', default: false },
      'no-torch': { type: 'boolean', default: false },
      'no-guard': { type: 'boolean', default: false },
    },
  });
  const backend = values.backend as BackendName;
  if (!BACKENDS.includes(backend)) throw new Error(`--backend must be one of ${BACKENDS.join(', ')}, got ${backend}`);
  const torchDevice = values['torch-device'] as TorchDevice;
  if (torchDevice !== 'cpu' && torchDevice !== 'cuda') throw new Error(`--torch-device must be cpu or cuda, got ${torchDevice}`);
  const models = values.models.split(',') as ModelName[];
  for (const m of models) if (!MODELS.includes(m)) throw new Error(`--models: unknown model ${m} (known: ${MODELS.join(', ')})`);
  const repeats = Number(values.repeats);
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`--repeats must be a positive integer`);
  return {
    backend, torchDevice, models, repeats, python: values.python,
    withCpu: !values['no-cpu'] && backend !== 'cpu',
    withTorch: !values['no-torch'],
    withGuard: !values['no-guard'],
  };
}

const LABELS: Record<ModelName, string> = { lenet5: 'LeNet5, batch 64', lenet5act: "LeNet5 (activation: 'relu' in layers), batch 64", convbn: 'conv+BatchNorm, batch 32' };

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    tf.env().set('PROD', true);
    const [, model, backend, mode] = argv as [string, ModelName, BackendName, Mode];
    const result = mode === 'guard' ? await guardChild(model, backend) : await child(model, backend, mode);
    process.stdout.write(`\n${JSON.stringify(result)}\n`);
    return;
  }
  const args = parseArgs(argv);
  const rows: string[] = [];
  const summary: string[] = [];
  const guardRows: string[] = [];
  let chosen = '';
  for (const model of args.models) {
    // The machine is shared and noisy: PyTorch and the chosen backend alternate, `repeats` times
    // each, every time in a fresh process; the medians of their medians are compared.
    const pts: TorchMeasured[] = [];
    const mains: Measured[] = [];
    for (let r = 0; r < args.repeats; r++) {
      if (args.withTorch) pts.push(torch(args.python, model, args.torchDevice));
      mains.push(runChild<Measured>([model, args.backend, 'step']));
    }
    chosen = mains[0].reason ?? mains[0].backend;
    const pt = pts.length ? { ...pts[0], median: median(pts.map((m) => m.median)), maxRssMiB: Math.max(...pts.map((m) => m.maxRssMiB)) } : undefined;
    const ours = { ...mains[0], median: median(mains.map((m) => m.median)), maxRssMiB: Math.max(...mains.map((m) => m.maxRssMiB)) };
    const label = LABELS[model];
    const line = (what: string, m: Measured): string => {
      const times = pt ? `${ratio(pt.median / m.median)} ×` : '—';
      return `| ${label} | ${what} | ${fmt(m.median)} ms | ${(1000 / m.median).toFixed(1)} | ${times} | ${m.maxRssMiB.toFixed(0)} MiB${m.tensorPeakMiB !== undefined ? ` (tensors ${m.tensorPeakMiB.toFixed(1)} MiB)` : ''} |`;
    };
    const asked = args.backend === 'auto' ? `${ours.backend} (auto)` : ours.backend;
    rows.push(line(`${asked}, custom step`, ours));
    const viaTrain = runChild<Measured>([model, args.backend, 'train']);
    rows.push(line(`${asked}, tsfreeze train()`, viaTrain));
    if (args.withCpu && model !== 'lenet5act') rows.push(line('cpu, custom step', runChild<Measured>([model, 'cpu', 'step'])));
    if (pt) {
      rows.push(`| ${label} | PyTorch ${pt.version} (${pt.device}) | ${fmt(pt.median)} ms | ${(1000 / pt.median).toFixed(1)} | 1 × | ${pt.maxRssMiB.toFixed(0)} MiB |`);
      const each = mains.map((a, i) => ratio(pts[i].median / a.median)).join(', ');
      summary.push(`${label}: ${ours.backend} ${mains.map((a) => fmt(a.median)).join(' / ')} ms, PyTorch ${pts.map((m) => fmt(m.median)).join(' / ')} ms (ratios per pair: ${each})`);
      if (model !== 'convbn') {
        const r = pt.median / ours.median;
        summary.push(`${label} on ${ours.backend}: ${ratio(r)} × PyTorch's steps/s${args.torchDevice === 'cpu' ? ` (goal ≥ 0.5: ${r >= 0.5 ? 'met' : 'missed'})` : ''}`);
      }
    }
    if (args.withGuard) {
      const g = runChild<GuardMeasured>([model, args.backend, 'guard']);
      const perStep = g.step.step - g.step.off;
      const perEpochRun = g.run.epoch - g.run.off;
      const epochShare = (n: number): string => pct(g.fingerprintMs + 2 * g.checkMs, n * g.step.off);
      guardRows.push(`| ${label} | ${g.backend} | ${g.frozenKeys} / ${g.frozenValues.toLocaleString('en')} | ${fmt(g.step.off)} ms | ${fmt(g.checkMs)} ms (${pct(g.checkMs, g.step.off)}) | ${fmt(g.step.step)} ms (${pct(perStep, g.step.off)}) | ${fmt(g.fingerprintMs)} ms | ${pct(perEpochRun, g.run.off)} of ${g.epochSteps} steps; ${epochShare(MNIST_EPOCH_STEPS)} of ${MNIST_EPOCH_STEPS} |`);
      // The verdict uses checkFrozen timed alone (31 runs): the difference of two train() medians is
      // shown too, but on a shared machine it is mostly noise.
      const share = g.checkMs / g.step.off;
      summary.push(`${label} on ${g.backend}: guard every step costs ${pct(g.checkMs, g.step.off)} of a step (train() medians differ by ${pct(perStep, g.step.off)}), every epoch of ${MNIST_EPOCH_STEPS} steps ${epochShare(MNIST_EPOCH_STEPS)} (goal < 5 %: every epoch ${(g.fingerprintMs + 2 * g.checkMs) / (MNIST_EPOCH_STEPS * g.step.off) < 0.05 ? 'met' : 'missed'}, every step ${share < 0.05 ? 'met' : 'missed'})`);
    }
  }
  console.log(`Backend: ${chosen}`);
  console.log('| model | backend, loop | median step | steps/s | × PyTorch (steps/s) | peak RSS |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  if (guardRows.length) {
    console.log('\nFrozen-weight guard (body frozen, last layer trains; train() with guard off / every step / every epoch):');
    console.log('| model | backend | frozen keys / values | step, guard off | checkFrozen alone (% of step) | step, guard every step (overhead) | fingerprint alone | guard every epoch: measured; computed |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of guardRows) console.log(r);
  }
  for (const s of summary) console.log(s);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
