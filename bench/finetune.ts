/**
 * Benchmark: fine-tuning a frozen backbone with a new head, end to end, tsfreeze's train() against
 * PyTorch's standard recipe in the same run (issue 13, item 5).
 *
 * The task: resnet18 (the zoo's, torchvision's layout), N images (default 512) of 224 × 224,
 * batch 32, the backbone frozen with its BatchNorm, a new 10-class head, 5 epochs of SGD with
 * momentum 0.9, shuffled. PyTorch: requires_grad=False on the backbone, model.eval() on it (the
 * head trains), torch.set_num_threads(2), OpenBLAS (the bench prints which BLAS library the
 * process loaded). tsfreeze: freeze() and train() with its defaults, so the frozen backbone's
 * features are cached after the first pass. Also with augmentation (a random horizontal flip per
 * image, every step: no cache possible), where tsfreeze runs the frozen backbone outside the
 * gradient tape; and that run once more with the whole model on the tape (frozenOffTape: false,
 * train()'s behaviour before the split) to show what the split saves: step time and the bytes of
 * tensors alive when the loss is computed (the forward pass's activations kept for backward).
 * Ratios are PyTorch's wall time / tsfreeze's (above 1: tsfreeze is faster). Every run is its own
 * process. The yield to the event loop at each step boundary is timed on its own.
 *
 *   npm run bench:finetune                             the full task (long on 2 cores)
 *   npm run bench:finetune -- --images 64 --size 112   a quick look
 *   npm run bench:finetune -- --model small            a small conv+BatchNorm net on 32 × 32 images
 * Flags: --images N, --size S, --batch B, --epochs E, --backend NAME, --model resnet18|small,
 * --no-augment, --no-torch, --python PATH.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs as parseFlags } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend, type BackendName } from '../lib/backend';
import { freeze } from '../lib/freeze/freeze';
import { resnet18 } from '../lib/models';
import { train } from '../lib/train/train';
import { yieldToEventLoop } from '../lib/train/stop';
import type { CacheReport } from '../lib/train/history';

type ModelName = 'resnet18' | 'small';
type Mode = 'cached' | 'augment' | 'augment-on-tape';

interface Args {
  model: ModelName;
  images: number;
  size: number;
  batch: number;
  epochs: number;
  backend: BackendName;
  augment: boolean;
  torch: boolean;
  python: string;
}

interface Result {
  mode: Mode;
  backend: string;
  seconds: number;
  epochSeconds: number[];
  /** Median step (ms), from onStep to onStep. */
  stepMs: number;
  /** Median bytes of tensors alive when the loss is computed, beyond those alive before train() (the images, the weights): the cache and the activations kept for backward. */
  lossTimeBytes: number;
  cache?: CacheReport;
  maxRssMiB: number;
}

interface TorchResult {
  seconds: number;
  epochSeconds: number[];
  stepMs: number;
  version: string;
  threads: number;
  blas: string[];
  maxRssMiB: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

/** A small conv + BatchNorm backbone (three stages) and a dense head named fc, on 32 × 32 images. */
function small(size: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3] });
  let x: tf.SymbolicTensor = input;
  [16, 32, 64].forEach((filters, i) => {
    x = tf.layers.conv2d({ name: `conv${i}`, filters, kernelSize: 3, padding: 'same', useBias: false }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: `bn${i}`, epsilon: 1e-5 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: `relu${i}` }).apply(x) as tf.SymbolicTensor;
    if (i < 2) x = tf.layers.maxPooling2d({ name: `pool${i}`, poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  });
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: tf.layers.dense({ name: 'fc', units: 10 }).apply(x) as tf.SymbolicTensor });
}

/** A random horizontal flip of each image (NHWC), as torchvision's RandomHorizontalFlip. */
function randomFlip(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.where(tf.less(tf.randomUniform([x.shape[0] as number, 1, 1, 1]), 0.5), tf.reverse(x, 2), x));
}

async function child(args: Args, mode: Mode): Promise<Result> {
  const info = await setBackend(args.backend);
  const model = args.model === 'resnet18' ? resnet18({ numClasses: 10, inputShape: [args.size, args.size, 3] }) : small(args.size);
  freeze(model, (key) => !key.startsWith('fc.'));
  const x = tf.randomNormal([args.images, args.size, args.size, 3], 0, 1, 'float32', 1);
  const y = tf.randomUniform([args.images], 0, 10, 'int32', 2);
  const lossBytes: number[] = [];
  const loss = (t: tf.Tensor, z: tf.Tensor): tf.Scalar => {
    lossBytes.push(tf.memory().numBytes);
    return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.cast(t, 'int32'), 10), z) as tf.Scalar;
  };
  const steps: number[] = [];
  let last = 0;
  // Bytes alive before training (the images, the weights): the step's own share is what comes on top.
  const baseline = tf.memory().numBytes;
  const t0 = performance.now();
  const h = await train(model, { x, y }, {
    loss, epochs: args.epochs, batchSize: args.batch, shuffle: true, seed: 0, optimizer: 'sgd', lr: 0.01, momentum: 0.9, progress: false,
    ...(mode === 'cached' ? {} : { transform: (v) => randomFlip(v as tf.Tensor) }),
    ...(mode === 'augment-on-tape' ? { frozenOffTape: false } : {}),
    onStep: (s) => {
      const now = performance.now();
      if (s.step > 1) steps.push(now - last);
      last = now;
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  tf.dispose([x, y]);
  return {
    mode, backend: info.name, seconds, epochSeconds: h.epochs.map((e) => e.seconds), stepMs: median(steps), lossTimeBytes: median(lossBytes) - baseline,
    ...(mode === 'cached' ? { cache: h.cache } : {}), maxRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

const TORCH = String.raw`
import json, resource, statistics, sys, time
import torch, torch.nn as nn, torchvision
model_name, n, size, batch, epochs, augment = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == '1'
torch.set_num_threads(2)
torch.manual_seed(0)
if model_name == 'resnet18':
    model = torchvision.models.resnet18(num_classes=10)
    backbone = [m for name, m in model.named_children() if name != 'fc']
else:
    layers = []
    c = 3
    for i, f in enumerate([16, 32, 64]):
        layers += [nn.Conv2d(c, f, 3, padding=1, bias=False), nn.BatchNorm2d(f), nn.ReLU()]
        if i < 2: layers.append(nn.MaxPool2d(2))
        c = f
    body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model = nn.Sequential(body, nn.Linear(64, 10))
    backbone = [body]
# The standard recipe: the backbone's parameters do not require grad, and it runs in eval mode.
for m in backbone:
    for p in m.parameters(): p.requires_grad = False
model.train()
for m in backbone: m.eval()
opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()
g = torch.Generator().manual_seed(1)
x = torch.randn(n, 3, size, size, generator=g)
y = torch.randint(0, 10, (n,), generator=g)
steps, epoch_s = [], []
t0 = time.perf_counter()
for e in range(epochs):
    te = time.perf_counter()
    order = torch.randperm(n, generator=g)
    for b in range(0, n, batch):
        ts = time.perf_counter()
        idx = order[b:b + batch]
        xb = x[idx]
        if augment:
            flip = torch.rand(xb.shape[0], 1, 1, 1, generator=g) < 0.5
            xb = torch.where(flip, xb.flip(3), xb)
        opt.zero_grad()
        loss = loss_fn(model(xb), y[idx])
        loss.backward()
        opt.step()
        loss.item()
        steps.append((time.perf_counter() - ts) * 1000)
    epoch_s.append(time.perf_counter() - te)
total = time.perf_counter() - t0
blas = sorted({line.split()[-1].split('/')[-1] for line in open('/proc/self/maps') if 'blas' in line})
print(json.dumps({'seconds': total, 'epochSeconds': epoch_s, 'stepMs': statistics.median(steps[1:] or steps), 'version': torch.__version__,
                  'threads': torch.get_num_threads(), 'blas': blas, 'maxRssMiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
`;

function torchRun(args: Args, augment: boolean): TorchResult {
  return JSON.parse(execFileSync(args.python, ['-c', TORCH, args.model, String(args.images), String(args.size), String(args.batch), String(args.epochs), augment ? '1' : '0'], { encoding: 'utf8', maxBuffer: 1 << 20 })) as TorchResult;
}

function runChild(argv: string[], mode: Mode): Result {
  const out = execFileSync(process.execPath, [...process.execArgv, __filename, ...argv, '--child', mode], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop() ?? '') as Result;
}

/** The cost of the loop's yield to the event loop at a step boundary (setImmediate), alone. */
async function yieldCost(): Promise<{ microseconds: number }> {
  const n = 20000;
  for (let i = 0; i < 1000; i++) await yieldToEventLoop();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await yieldToEventLoop();
  return { microseconds: ((performance.now() - t0) * 1000) / n };
}

function parseArgs(argv: string[]): Args {
  const { values } = parseFlags({
    args: argv,
    options: {
      model: { type: 'string', default: 'resnet18' },
      images: { type: 'string', default: '512' },
      size: { type: 'string' },
      batch: { type: 'string', default: '32' },
      epochs: { type: 'string', default: '5' },
      backend: { type: 'string', default: 'auto' },
      python: { type: 'string', default: existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3' },
      'no-augment': { type: 'boolean', default: false },
      'no-torch': { type: 'boolean', default: false },
      child: { type: 'string' },
    },
  });
  const int = (flag: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer`);
    return n;
  };
  const model = values.model as ModelName;
  if (model !== 'resnet18' && model !== 'small') throw new Error(`--model must be resnet18 or small, got ${model}`);
  return {
    model,
    images: int('images', values.images),
    size: int('size', values.size ?? (model === 'small' ? '32' : '224')),
    batch: int('batch', values.batch),
    epochs: int('epochs', values.epochs),
    backend: values.backend as BackendName,
    augment: !values['no-augment'],
    torch: !values['no-torch'],
    python: values.python,
  };
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv);
  const c = argv.indexOf('--child');
  if (c >= 0) {
    tf.env().set('PROD', true);
    process.stdout.write(`\n${JSON.stringify(await child(args, argv[c + 1] as Mode))}\n`);
    return;
  }
  const own = argv.filter((a, i) => a !== '--child' && argv[i - 1] !== '--child');
  console.log(`Fine-tuning ${args.model}: ${args.images} images ${args.size}×${args.size}, batch ${args.batch}, ${args.epochs} epochs, backbone frozen (BatchNorm too), new 10-class head, SGD momentum 0.9`);
  const y = await yieldCost();
  console.log(`yield to the event loop per step (setImmediate): ${y.microseconds.toFixed(1)} µs`);
  const rows: string[] = ['| run | wall time | per epoch | median step | tensor bytes at the loss, beyond data and weights | peak RSS | PyTorch ÷ tsfreeze |', '|---|---|---|---|---|---|---|'];
  const ptPlain = args.torch ? torchRun(args, false) : undefined;
  const cached = runChild(own, 'cached');
  const perEpoch = (xs: number[]) => xs.map((s) => s.toFixed(1)).join(' / ') + ' s';
  const ratio = (pt: TorchResult | undefined, r: Result) => (pt ? `${(pt.seconds / r.seconds).toFixed(2)} ×` : '—');
  if (ptPlain) rows.push(`| PyTorch ${ptPlain.version} (${ptPlain.threads} threads, ${ptPlain.blas.join(', ') || 'no BLAS library mapped'}) | ${ptPlain.seconds.toFixed(1)} s | ${perEpoch(ptPlain.epochSeconds)} | ${ptPlain.stepMs.toFixed(0)} ms | — | ${ptPlain.maxRssMiB.toFixed(0)} MiB | 1 × |`);
  rows.push(`| tsfreeze train(), ${cached.backend}, cached features | ${cached.seconds.toFixed(1)} s | ${perEpoch(cached.epochSeconds)} | ${cached.stepMs.toFixed(1)} ms | ${mib(cached.lossTimeBytes)} | ${cached.maxRssMiB.toFixed(0)} MiB | ${ratio(ptPlain, cached)} |`);
  console.log(`cache: ${cached.cache?.used ? `used, after ${cached.cache.cutAfter.join(', ')}, ${mib(cached.cache.bytes)}, computed in ${cached.cache.seconds.toFixed(1)} s` : `not used: ${cached.cache?.reason}`}`);
  if (args.augment) {
    const ptAug = args.torch ? torchRun(args, true) : undefined;
    const aug = runChild(own, 'augment');
    const onTape = runChild(own, 'augment-on-tape');
    if (ptAug) rows.push(`| PyTorch, random flip | ${ptAug.seconds.toFixed(1)} s | ${perEpoch(ptAug.epochSeconds)} | ${ptAug.stepMs.toFixed(0)} ms | — | ${ptAug.maxRssMiB.toFixed(0)} MiB | 1 × |`);
    rows.push(`| tsfreeze, random flip (no cache), frozen backbone off the tape | ${aug.seconds.toFixed(1)} s | ${perEpoch(aug.epochSeconds)} | ${aug.stepMs.toFixed(0)} ms | ${mib(aug.lossTimeBytes)} | ${aug.maxRssMiB.toFixed(0)} MiB | ${ratio(ptAug, aug)} |`);
    rows.push(`| tsfreeze, random flip, whole model on the tape (frozenOffTape: false) | ${onTape.seconds.toFixed(1)} s | ${perEpoch(onTape.epochSeconds)} | ${onTape.stepMs.toFixed(0)} ms | ${mib(onTape.lossTimeBytes)} | ${onTape.maxRssMiB.toFixed(0)} MiB | ${ratio(ptAug, onTape)} |`);
  }
  console.log(rows.join('\n'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
