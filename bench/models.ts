/**
 * Benchmark: real architectures against PyTorch, in the same run. For resnet18 and mobilenet_v2
 * (torchvision's, random weights and BatchNorm statistics from three batches of noise in train
 * mode, state dict written by torchvision at bench time):
 * readCheckpoint + loadStateDict (strict) of the .pth against torch.load + load_state_dict, the
 * eval forward pass at batch 16 × 224 × 224 against PyTorch's under torch.no_grad(), and peak
 * memory (RSS; TF.js tensors). The outputs are compared (same input, computed from a formula on
 * both sides), so the times are of a correct computation. PyTorch: torch.set_num_threads(2),
 * OPENBLAS_NUM_THREADS=1, the BLAS it loaded printed (libopenblas0-pthread expected).
 *
 * Each tsfreeze configuration runs in a fresh process (its peak RSS is its own):
 *   auto      setBackend('auto') (wasm here), as a user gets it
 *   nofuse    the same without folding BatchNorm and activations into the convolutions
 *   threads2  TSFREEZE_WASM_THREADS=2 (XNNPACK on two threads)
 *   cpu       TF.js's plain-JavaScript backend (slow: use --batch 1)
 *
 *   npm run bench:models
 *   npm run bench:models -- --models resnet18 --configs auto,nofuse --reps 5 --batch 16
 * Other flags: --no-torch, --python PATH, --profile (each configuration prints what one forward
 * pass spends per kernel, from tf.profile; the fused convolutions, computed when their output is
 * first used, are counted apart).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs as parseFlags } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend, type BackendName } from '../lib/backend';
import { foldStats, setConvFusion } from '../lib/backend/wasm/kernel-utils/fused-conv';
import { lazyCounts } from '../lib/backend/wasm/lazy';
import { readCheckpoint } from '../lib/formats/read';
import { loadStateDict } from '../lib/model/load';
import * as zoo from '../lib/models';
import { makeDivisible } from '../lib/models/options';

type ModelName = 'resnet18' | 'mobilenet_v2';
type Config = 'auto' | 'nofuse' | 'threads2' | 'cpu';
const MODELS: ModelName[] = ['resnet18', 'mobilenet_v2'];
const CONFIGS: Config[] = ['auto', 'nofuse', 'threads2', 'cpu'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

type S = tf.SymbolicTensor;

/**
 * torchvision's mobilenet_v2 with its keys (features.N..., classifier.1), from the zoo's
 * PyTorch-semantics layers; the zoo's own mobilenetV2 is used when it has one.
 */
function mobilenetV2Mirror(): tf.LayersModel {
  const { torchConv2d, torchBatchNorm, torchActivation, torchAdaptiveAvgPool2d, torchFlatten } = zoo;
  const convBn = (x: S, prefix: string, filters: number, k: number, stride: number, groups = 1, act = true): S => {
    let y = torchConv2d({ name: `${prefix}.0`, filters, kernelSize: k, stride, padding: (k - 1) / 2, groups, useBias: false }).apply(x) as S;
    y = torchBatchNorm({ name: `${prefix}.1` }).apply(y) as S;
    return act ? torchActivation('relu6', { name: `${prefix}.2` }).apply(y) as S : y;
  };
  const input = tf.input({ shape: [224, 224, 3], name: 'input' });
  let x = convBn(input, 'features.0', 32, 3, 2);
  let c = 32;
  let f = 1;
  for (const [t, ch, n, s] of [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]) {
    const out = makeDivisible(ch);
    for (let i = 0; i < n; i++, f++) {
      const stride = i === 0 ? s : 1;
      const hidden = Math.round(c * t);
      const p = `features.${f}.conv`;
      let y = x;
      let k = 0;
      if (t !== 1) y = convBn(y, `${p}.${k++}`, hidden, 1, 1);
      y = convBn(y, `${p}.${k++}`, hidden, 3, stride, hidden);
      y = torchConv2d({ name: `${p}.${k++}`, filters: out, kernelSize: 1, useBias: false }).apply(y) as S;
      y = torchBatchNorm({ name: `${p}.${k}` }).apply(y) as S;
      x = stride === 1 && c === out ? tf.layers.add({ name: `features.${f}.add` }).apply([x, y]) as S : y;
      c = out;
    }
  }
  x = convBn(x, `features.${f}`, 1280, 1, 1);
  x = torchAdaptiveAvgPool2d({ name: 'avgpool', outputSize: 1 }).apply(x) as S;
  x = torchFlatten({ name: 'flatten' }).apply(x) as S;
  x = tf.layers.dense({ name: 'classifier.1', units: 1000 }).apply(x) as S;
  return tf.model({ inputs: input, outputs: x, name: 'mobilenet_v2' });
}

function build(model: ModelName): tf.LayersModel {
  if (model === 'resnet18') return zoo.resnet18();
  const own = (zoo as unknown as Record<string, unknown>).mobilenetV2 as (() => tf.LayersModel) | undefined;
  return own ? own() : mobilenetV2Mirror();
}

/** The benchmark's input, NHWC: the value at NCHW position i is sin(0.001 i) (the PyTorch side computes the same). */
function inputOf(batch: number): tf.Tensor4D {
  const [c, h, w] = [3, 224, 224];
  const data = new Float32Array(batch * h * w * c);
  let k = 0;
  for (let n = 0; n < batch; n++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++) data[k++] = Math.sin(0.001 * (((n * c + ch) * h + y) * w + x));
      }
    }
  }
  return tf.tensor4d(data, [batch, h, w, c]);
}

interface Measured {
  config: Config;
  backend: string;
  reason: string;
  readMs: number;
  loadMs: number;
  forwardMs: number;
  forwardMinMs: number;
  forwards: number;
  /** Largest |tsfreeze − PyTorch| over the outputs (NaN, null once through JSON, without PyTorch). */
  maxDiff: number | null;
  maxAbs: number;
  tensorPeakMiB: number;
  foldedMiB: number;
  maxRssMiB: number;
}

/** Child process: one model, one configuration. */
async function child(model: ModelName, config: Config, dir: string, batch: number, reps: number): Promise<Measured> {
  if (config === 'nofuse') setConvFusion(false);
  const info = await setBackend(config === 'cpu' ? 'cpu' : 'auto');
  const file = join(dir, `${model}.pth`);
  const net = build(model);
  // Reading: each a fresh read of the file, as a notebook's first load.
  const reads: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await readCheckpoint(file);
    reads.push(performance.now() - t0);
  }
  const sd = (await readCheckpoint(file)).stateDict;
  const loads: number[] = [];
  for (let i = 0; i < 8; i++) {
    const t0 = performance.now();
    await loadStateDict(net, sd, { strict: true });
    if (i > 0) loads.push(performance.now() - t0);
  }
  const x = inputOf(batch);
  const forward = async (): Promise<Float32Array> => {
    const y = net.predict(x) as tf.Tensor;
    const v = (await y.data()) as Float32Array;
    y.dispose();
    return v;
  };
  let out = await forward();
  out = await forward();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    out = await forward();
    times.push(performance.now() - t0);
  }
  const lazyBefore = { ...lazyCounts };
  const profile = await tf.profile(() => forward());
  const peak = profile.peakBytes;
  if (process.env.TSFREEZE_BENCH_PROFILE === '1') {
    const by = new Map<string, { ms: number; calls: number }>();
    for (const k of profile.kernels) {
      // tf.profile lists each op and the kernel it ran (the op's time includes the kernel's): kernels only.
      if (k.name.endsWith('__op')) continue;
      const e = by.get(k.name) ?? { ms: 0, calls: 0 };
      e.ms += k.kernelTimeMs as number;
      e.calls++;
      by.set(k.name, e);
    }
    const fused = { ms: lazyCounts.ms - lazyBefore.ms, calls: lazyCounts.computed - lazyBefore.computed };
    const total = [...by.values()].reduce((a, e) => a + e.ms, 0) + fused.ms;
    const lines = [`  ${model} ${config}: one forward pass, ${total.toFixed(0)} ms in kernels`];
    if (fused.calls) lines.push(`    ${'fused convolutions (pending, computed on use)'.padEnd(46)} ${fused.ms.toFixed(1).padStart(8)} ms ${String(fused.calls).padStart(4)} calls  ${(100 * fused.ms / total).toFixed(1).padStart(5)} %`);
    for (const [name, e] of [...by].sort((a, b) => b[1].ms - a[1].ms)) {
      if (e.ms < 0.05 * total / 100) continue;
      lines.push(`    ${name.padEnd(46)} ${e.ms.toFixed(1).padStart(8)} ms ${String(e.calls).padStart(4)} calls  ${(100 * e.ms / total).toFixed(1).padStart(5)} %`);
    }
    process.stderr.write(`${lines.join('\n')}\n`);
  }
  let maxDiff = NaN;
  let maxAbs = 0;
  const ref = join(dir, `${model}.out`);
  if (existsSync(ref)) {
    const want = new Float32Array(readFileSync(ref).buffer.slice(0));
    // A smaller batch (the cpu configuration) is compared with PyTorch's first images.
    maxDiff = 0;
    for (let i = 0; i < Math.min(want.length, out.length); i++) {
      maxDiff = Math.max(maxDiff, Math.abs(out[i] - want[i]));
      maxAbs = Math.max(maxAbs, Math.abs(want[i]));
    }
  }
  return {
    config, backend: info.name, reason: info.reason,
    readMs: median(reads), loadMs: median(loads), forwardMs: median(times), forwardMinMs: Math.min(...times), forwards: times.length,
    maxDiff, maxAbs, tensorPeakMiB: peak / 2 ** 20, foldedMiB: (foldStats().floats * 4) / 2 ** 20,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

const TORCH = String.raw`
import json, resource, statistics, sys, time
import numpy as np
import torch, torchvision
model, path, out, batch, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(2)
torch.manual_seed(0)
net = getattr(torchvision.models, model)()
# BatchNorm statistics moved off their defaults, as a trained network's are.
net.train()
with torch.no_grad():
    for _ in range(3): net(torch.randn(8, 3, 224, 224))
net.eval()
torch.save(net.state_dict(), path)
def timed(fn, n):
    fn(); ts = []
    for _ in range(n):
        t0 = time.perf_counter(); fn(); ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts), min(ts)
read_ms, _ = timed(lambda: torch.load(path), 5)
sd = torch.load(path)
load_ms, _ = timed(lambda: net.load_state_dict(sd), 15)
x = torch.from_numpy(np.sin(0.001 * np.arange(batch * 3 * 224 * 224, dtype=np.float64)).astype(np.float32).reshape(batch, 3, 224, 224))
with torch.no_grad():
    net(x)
    fwd_ms, fwd_min = timed(lambda: net(x), reps)
    y = net(x)
y.numpy().astype(np.float32).tofile(out)
blas = sorted({l.split()[-1] for l in open('/proc/self/maps') if 'blas' in l or 'lapack' in l})
print(json.dumps({'readMs': read_ms, 'loadMs': load_ms, 'forwardMs': fwd_ms, 'forwardMinMs': fwd_min, 'forwards': reps,
                  'maxRssMiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'version': torch.__version__,
                  'threads': torch.get_num_threads(), 'blas': blas}))
`;

interface TorchMeasured { readMs: number; loadMs: number; forwardMs: number; forwardMinMs: number; forwards: number; maxRssMiB: number; version: string; threads: number; blas: string[] }

function torchRun(python: string, model: ModelName, dir: string, batch: number, reps: number): TorchMeasured {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1' };
  return JSON.parse(execFileSync(python, ['-c', TORCH, model, join(dir, `${model}.pth`), join(dir, `${model}.out`), String(batch), String(reps)],
    { encoding: 'utf8', env, maxBuffer: 1 << 20 })) as TorchMeasured;
}

function writeStateDictOnly(python: string, model: ModelName, dir: string): void {
  execFileSync(python, ['-c', `import torch, torchvision, sys\ntorch.manual_seed(0)\ntorch.save(getattr(torchvision.models, sys.argv[1])().state_dict(), sys.argv[2])`, model, join(dir, `${model}.pth`)]);
}

let profileKernels = false;

function runChild(model: ModelName, config: Config, dir: string, batch: number, reps: number): Measured {
  const env = { ...process.env };
  if (config === 'threads2') env.TSFREEZE_WASM_THREADS = '2';
  if (profileKernels) env.TSFREEZE_BENCH_PROFILE = '1';
  else delete env.TSFREEZE_WASM_THREADS;
  const out = execFileSync(process.execPath, [...process.execArgv, __filename, '--child', model, config, dir, String(batch), String(reps)], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env, maxBuffer: 1 << 20,
  });
  return JSON.parse(out.trim().split('\n').pop() ?? '') as Measured;
}

function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

function parseArgs(argv: string[]): { models: ModelName[]; configs: Config[]; reps: number; batch: number; withTorch: boolean; profile: boolean; python: string } {
  const { values } = parseFlags({
    args: argv,
    options: {
      models: { type: 'string', default: MODELS.join(',') },
      configs: { type: 'string', default: 'auto,nofuse,threads2' },
      reps: { type: 'string', default: '5' },
      batch: { type: 'string', default: '16' },
      python: { type: 'string', default: existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3' },
      'no-torch': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
    },
  });
  const models = values.models.split(',') as ModelName[];
  for (const m of models) if (!MODELS.includes(m)) throw new Error(`--models: unknown model ${m} (known: ${MODELS.join(', ')})`);
  const configs = values.configs.split(',') as Config[];
  for (const c of configs) if (!CONFIGS.includes(c)) throw new Error(`--configs: unknown configuration ${c} (known: ${CONFIGS.join(', ')})`);
  const reps = Number(values.reps);
  const batch = Number(values.batch);
  if (!Number.isInteger(reps) || reps < 1 || !Number.isInteger(batch) || batch < 1) throw new Error('--reps and --batch must be positive integers');
  return { models, configs, reps, batch, withTorch: !values['no-torch'], profile: values.profile, python: values.python };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    tf.env().set('PROD', true);
    const [model, config, dir, batch, reps] = argv.slice(1);
    const r = await child(model as ModelName, config as Config, dir, Number(batch), Number(reps));
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const a = parseArgs(argv);
  profileKernels = a.profile;
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-bench-models-'));
  try {
    console.log(`batch ${a.batch} × 224 × 224 × 3, eval forward: median of ${a.reps} after 2 warm-up; loadStateDict strict: median of 7; readCheckpoint: median of 5 fresh reads`);
    for (const model of a.models) {
      let torch: TorchMeasured | null = null;
      if (a.withTorch) {
        torch = torchRun(a.python, model, dir, a.batch, a.reps);
        const openblas = torch.blas.some((p) => p.includes('openblas'));
        console.log(`\n${model}: PyTorch ${torch.version}, ${torch.threads} threads, OPENBLAS_NUM_THREADS=1, BLAS: ${torch.blas.join(', ') || 'none loaded'}${openblas ? '' : '  (WARNING: not OpenBLAS: apt-get install libopenblas0-pthread)'}`);
      } else {
        writeStateDictOnly(a.python, model, dir);
        console.log(`\n${model}:`);
      }
      const rows: string[][] = [['', 'read .pth', 'load state dict', 'read + load', 'forward (median / min)', '× PyTorch speed', 'max |Δ| vs PyTorch', 'peak RSS', 'tensors peak', 'folded weights']];
      const rowOf = (name: string, m: { readMs: number; loadMs: number; forwardMs: number; forwardMinMs: number; maxRssMiB: number }, extra: string[]): string[] => {
        const speed = torch ? `${(torch.forwardMs / m.forwardMs).toFixed(2)} ×` : '';
        return [name, `${fmt(m.readMs)} ms`, `${fmt(m.loadMs)} ms`, `${fmt(m.readMs + m.loadMs)} ms`, `${fmt(m.forwardMs)} / ${fmt(m.forwardMinMs)} ms`, speed, extra[0], `${m.maxRssMiB.toFixed(0)} MiB`, extra[1], extra[2]];
      };
      if (torch) rows.push(rowOf('PyTorch', torch, ['', '', '']));
      for (const config of a.configs) {
        const m = runChild(model, config, dir, config === 'cpu' ? 1 : a.batch, config === 'cpu' ? 1 : a.reps);
        const diff = m.maxDiff == null || Number.isNaN(m.maxDiff) ? '' : `${m.maxDiff.toExponential(1)} (|y| ≤ ${m.maxAbs.toPrecision(2)})`;
        rows.push(rowOf(`${config} (${m.backend})`, m, [diff, `${m.tensorPeakMiB.toFixed(0)} MiB`, `${m.foldedMiB.toFixed(0)} MiB`]));
        if (torch) {
          rows[rows.length - 1][1] += ` (${(m.readMs / torch.readMs).toFixed(2)} ×)`;
          rows[rows.length - 1][2] += ` (${(m.loadMs / torch.loadMs).toFixed(2)} ×)`;
        }
        if (config === 'cpu') rows[rows.length - 1][0] += ' [batch 1]';
      }
      const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
      for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
    }
    console.log('\nread/load columns: tsfreeze time and its ratio to PyTorch\'s (lower is better); forward: × PyTorch\'s speed (higher is better; goal ≥ 0.5 on the default backend).');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
