/**
 * Benchmark: training steps per second of LeNet5 (seed 003's layout, batch 64, 28x28x1; built as
 * the project builds it, and once more with the ReLUs inside the layers) and of a small
 * conv + BatchNorm net (batch 32, 32x32x3), SGD with momentum 0.9, on the backend 'auto'
 * picks (wasm here) and on the cpu backend, with Debian's PyTorch (/usr/bin/python3,
 * torch.set_num_threads(2), OPENBLAS_NUM_THREADS=1) measured in the same run. Every
 * configuration runs in a fresh process, so that its peak RSS is its own; PyTorch and the default
 * backend alternate three times each (the machine is noisy) and the medians of medians are compared.
 *
 * The step is a plain one (tf.variableGrads + optimizer.applyGradients, loss read back every
 * step as PyTorch's loss.item()); tsfreeze's train() is timed too, on the default backend.
 * Goal: LeNet5 at least 0.5 x PyTorch's steps per second. Prints medians.
 *   npm run bench:train              (add --no-cpu to skip the slow cpu backend)
 */
import { execFileSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../lib/backend';
import { leNet } from '../test/helpers/models';

const PYTHON = '/usr/bin/python3';
const REPEATS = 3;
type ModelName = 'lenet5' | 'lenet5act' | 'convbn';
type Mode = 'step' | 'train';

interface Spec {
  batch: number;
  input: [number, number, number];
  classes: number;
}

const SPECS: Record<ModelName, Spec> = {
  lenet5: { batch: 64, input: [28, 28, 1], classes: 10 },
  lenet5act: { batch: 64, input: [28, 28, 1], classes: 10 },
  convbn: { batch: 32, input: [32, 32, 3], classes: 10 },
};

/** Warm-up and timed steps per backend (the cpu backend takes seconds a step). */
const STEPS: Record<string, Record<ModelName, [number, number]>> = {
  fast: { lenet5: [5, 40], lenet5act: [5, 40], convbn: [3, 20] },
  cpu: { lenet5: [1, 3], lenet5act: [1, 3], convbn: [1, 3] },
};

interface Measured {
  backend: string;
  median: number;
  steps: number;
  maxRssMiB: number;
  /** TF.js: peak bytes of tensors during one step (tf.profile). */
  tensorPeakMiB?: number;
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

const logitsLoss = (y: tf.Tensor, logits: tf.Tensor): tf.Scalar => tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;

/** Child process: one model, one backend, one way of stepping. Prints JSON. */
async function child(model: ModelName, backend: 'auto' | 'cpu', mode: Mode): Promise<Measured> {
  const info = await setBackend(backend);
  const spec = SPECS[model];
  const [warm, timed] = STEPS[info.name === 'cpu' ? 'cpu' : 'fast'][model];
  const net = model === 'lenet5' ? leNet(false) : model === 'lenet5act' ? lenet5act() : convbn();
  const x = tf.randomNormal([spec.batch, ...spec.input]);
  const y = tf.oneHot(tf.randomUniform([spec.batch], 0, spec.classes, 'int32'), spec.classes);
  const times: number[] = [];
  let tensorPeak: number | undefined;

  if (mode === 'step') {
    const optimizer = tf.train.momentum(0.01, 0.9);
    const step = (): number => {
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => logitsLoss(y, net.apply(x, { training: true }) as tf.Tensor));
        optimizer.applyGradients(grads as tf.NamedTensorMap as never);
        return value;
      });
      const v = loss.dataSync()[0];
      loss.dispose();
      return v;
    };
    for (let i = 0; i < warm; i++) step();
    for (let i = 0; i < timed; i++) {
      const t0 = performance.now();
      step();
      times.push(performance.now() - t0);
    }
    tensorPeak = (await tf.profile(() => { step(); })).peakBytes;
  } else {
    // tsfreeze's train(): one epoch of warm + timed batches; a step is the time between onStep calls.
    const { train } = await import('../lib/train/train');
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
    backend: info.name, median: median(times), steps: times.length,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    ...(tensorPeak !== undefined ? { tensorPeakMiB: tensorPeak / 2 ** 20 } : {}),
  };
}

const TORCH = String.raw`
import json, resource, statistics, sys, time
import torch, torch.nn as nn
torch.set_num_threads(2)
torch.manual_seed(0)
model, warm, timed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if model.startswith('lenet5'):
    net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
                        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    x = torch.randn(64, 1, 28, 28); y = torch.randint(0, 10, (64,))
else:
    def block(i, o): return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o, eps=1e-5, momentum=0.1), nn.ReLU()]
    net = nn.Sequential(*block(3, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2), *block(32, 64),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    x = torch.randn(32, 3, 32, 32); y = torch.randint(0, 10, (32,))
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()
net.train()
def step():
    opt.zero_grad(); loss = loss_fn(net(x), y); loss.backward(); opt.step(); return loss.item()
for _ in range(warm): step()
ts = []
for _ in range(timed):
    t0 = time.perf_counter(); step(); ts.append((time.perf_counter() - t0) * 1000)
print(json.dumps({'median': statistics.median(ts), 'steps': timed, 'maxRssMiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
`;

function torch(model: ModelName): Measured & { version: string } {
  const [warm, timed] = model.startsWith('lenet5') ? [10, 60] : [5, 40];
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1' };
  const out = JSON.parse(execFileSync(PYTHON, ['-c', TORCH, model, String(warm), String(timed)], { encoding: 'utf8', env })) as Measured;
  const version = execFileSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', env }).trim();
  return { ...out, backend: 'PyTorch', version };
}

function runChild(model: ModelName, backend: 'auto' | 'cpu', mode: Mode): Measured {
  const out = execFileSync(process.execPath, [...process.execArgv, __filename, '--child', model, backend, mode], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20,
  });
  const line = out.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Measured;
}

function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    tf.env().set('PROD', true);
    const result = await child(args[1] as ModelName, args[2] as 'auto' | 'cpu', args[3] as Mode);
    process.stdout.write(`\n${JSON.stringify(result)}\n`);
    return;
  }
  const withCpu = !args.includes('--no-cpu');
  const rows: string[] = [];
  const summary: string[] = [];
  for (const model of ['lenet5', 'lenet5act', 'convbn'] as ModelName[]) {
    // The machine is shared and noisy: PyTorch and the default backend alternate, REPEATS times
    // each, every time in a fresh process; the medians of their medians are compared.
    const pts: (Measured & { version: string })[] = [];
    const autos: Measured[] = [];
    for (let r = 0; r < REPEATS; r++) {
      pts.push(torch(model));
      autos.push(runChild(model, 'auto', 'step'));
    }
    const pt = { ...pts[0], median: median(pts.map((m) => m.median)), maxRssMiB: Math.max(...pts.map((m) => m.maxRssMiB)) };
    const auto = { ...autos[0], median: median(autos.map((m) => m.median)), maxRssMiB: Math.max(...autos.map((m) => m.maxRssMiB)) };
    const label = { lenet5: 'LeNet5, batch 64', lenet5act: "LeNet5 (activation: 'relu' in layers), batch 64", convbn: 'conv+BatchNorm, batch 32' }[model];
    const line = (what: string, m: Measured): string => {
      const ratio = pt.median / m.median;
      return `| ${label} | ${what} | ${fmt(m.median)} ms | ${(1000 / m.median).toFixed(1)} | ${ratio >= 0.01 ? ratio.toFixed(2) : ratio.toPrecision(2)} × | ${m.maxRssMiB.toFixed(0)} MiB${m.tensorPeakMiB !== undefined ? ` (tensors ${m.tensorPeakMiB.toFixed(1)} MiB)` : ''} |`;
    };
    rows.push(line(`${auto.backend} (auto), custom step`, auto));
    const viaTrain = runChild(model, 'auto', 'train');
    rows.push(line(`${viaTrain.backend} (auto), tsfreeze train()`, viaTrain));
    if (withCpu && model !== 'lenet5act') {
      const cpu = runChild(model, 'cpu', 'step');
      rows.push(line('cpu, custom step', cpu));
    }
    rows.push(`| ${label} | PyTorch ${pt.version} (2 threads) | ${fmt(pt.median)} ms | ${(1000 / pt.median).toFixed(1)} | 1 × | ${pt.maxRssMiB.toFixed(0)} MiB |`);
    const each = autos.map((a, i) => (pts[i].median / a.median).toFixed(2)).join(', ');
    summary.push(`${label}: ${auto.backend} ${autos.map((a) => fmt(a.median)).join(' / ')} ms, PyTorch ${pts.map((m) => fmt(m.median)).join(' / ')} ms (ratios per pair: ${each})`);
    if (model !== 'convbn') {
      const ratio = pt.median / auto.median;
      summary.push(`${label} on ${auto.backend}: ${ratio.toFixed(2)} × PyTorch's steps/s (goal ≥ 0.5: ${ratio >= 0.5 ? 'met' : 'missed'})`);
    }
  }
  console.log('| model | backend, loop | median step | steps/s | × PyTorch (steps/s) | peak RSS |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  for (const s of summary) console.log(s);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
