/**
 * Benchmark: diffKeys and loadStateDict on torchvision resnet18's state dict (122 keys, into a
 * TF.js mirror of resnet18 with the same structural keys) and on synthetic 10,000-key ones,
 * with PyTorch's `model.load_state_dict(sd)` (torch.set_num_threads(2)) measured in the same run.
 * Goals: resnet18 under 5 ms, 10,000 keys under 100 ms. Prints medians.
 *   npm run bench:statedict
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readCheckpoint } from '../lib/formats/read';
import { diffKeys } from '../lib/model/diff-keys';
import { loadStateDict } from '../lib/model/load';
import { stateDictOf } from '../lib/model/state-dict-of';
import { weightSlots } from '../lib/model/weights';
import { renameKeys } from '../lib/statedict/rename';
import type { HostTensor, StateDict } from '../lib/statedict/tensor';

const PYTHON = '/usr/bin/python3';
const CACHE = join(__dirname, '.cache');
const FILE = join(CACHE, 'resnet18.pth');
const RUNS = 15;
const N = 10_000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeIt(fn: () => unknown, runs = RUNS): Promise<number> {
  await fn(); // warm-up: JIT, TF.js kernels
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** torchvision's resnet18 as a TF.js model whose structural keys are PyTorch's (conv1, bn1, layer1.0.conv1, ..., fc). */
function resnet18(): tf.LayersModel {
  const bn = (name?: string) => tf.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9, name });
  const conv = (filters: number, kernelSize: number, strides: number, name?: string, inputShape?: number[]) => tf.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, name, inputShape });
  const block = (inC: number, outC: number, stride: number, size: number): tf.LayersModel => {
    const x = tf.input({ shape: [size, size, inC] });
    let y = conv(outC, 3, stride, 'conv1').apply(x) as tf.SymbolicTensor;
    y = bn('bn1').apply(y) as tf.SymbolicTensor;
    y = tf.layers.reLU().apply(y) as tf.SymbolicTensor;
    y = conv(outC, 3, 1, 'conv2').apply(y) as tf.SymbolicTensor;
    y = bn('bn2').apply(y) as tf.SymbolicTensor;
    let skip = x;
    if (stride !== 1 || inC !== outC) {
      const down = tf.sequential({ name: 'downsample', layers: [conv(outC, 1, stride, undefined, [size, size, inC]), bn()] });
      skip = down.apply(x) as tf.SymbolicTensor;
    }
    const out = tf.layers.reLU().apply(tf.layers.add().apply([y, skip]) as tf.SymbolicTensor) as tf.SymbolicTensor;
    return tf.model({ inputs: x, outputs: out });
  };
  const input = tf.input({ shape: [224, 224, 3] });
  let h = conv(64, 7, 2, 'conv1').apply(input) as tf.SymbolicTensor;
  h = bn('bn1').apply(h) as tf.SymbolicTensor;
  h = tf.layers.reLU().apply(h) as tf.SymbolicTensor;
  h = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(h) as tf.SymbolicTensor;
  let c = 64, size = 56;
  [64, 128, 256, 512].forEach((outC, i) => {
    const stride = i === 0 ? 1 : 2;
    const first = block(c, outC, stride, size);
    size /= stride;
    const layer = tf.sequential({ name: `layer${i + 1}`, layers: [first, block(outC, outC, 1, size)] });
    h = layer.apply(h) as tf.SymbolicTensor;
    c = outC;
  });
  h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 1000, name: 'fc' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

function small(shape: number[], seed: number): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', shape, data: Float32Array.from({ length: n }, (_, i) => seed + i) };
}

/** 10,000 keys: 5,000 layers with a [4, 4] weight and a [4] bias. */
function synthetic(prefix = ''): StateDict {
  const sd: StateDict = new Map();
  for (let i = 0; i < N / 2; i++) {
    sd.set(`${prefix}blocks.${i}.weight`, small([4, 4], i));
    sd.set(`${prefix}blocks.${i}.bias`, small([4], i));
  }
  return sd;
}

interface TorchTimes { resnet18: number; parameterDict: number; moduleDict: number }

/** PyTorch's model.load_state_dict, 2 threads: resnet18; 10,000 parameters in one nn.ParameterDict (like a plain object of variables); the same keys as 5,000 nn.Linear(4, 4) in an nn.ModuleDict (torch 1.13 scans every key once per module there: quadratic, so only 3 runs). */
function torchTimes(): TorchTimes {
  const code = `
import time, torch, torchvision, statistics, sys, json, torch.nn as nn
torch.set_num_threads(2)
def t(m, sd, runs=${RUNS}):
    m.load_state_dict(sd)
    xs = []
    for _ in range(runs):
        a = time.perf_counter(); m.load_state_dict(sd); xs.append((time.perf_counter() - a) * 1000)
    return statistics.median(xs)
copy = lambda m: {k: v.clone() for k, v in m.state_dict().items()}
r = t(torchvision.models.resnet18(), torch.load(sys.argv[1]))
p = nn.ParameterDict({f"p{i}": nn.Parameter(torch.zeros(4, 4) if i % 2 == 0 else torch.zeros(4)) for i in range(${N})})
pd = t(p, copy(p))
m = nn.Module(); m.blocks = nn.ModuleDict({str(i): nn.Linear(4, 4) for i in range(${N / 2})})
md = t(m, copy(m), runs=3)
print(json.dumps({"resnet18": r, "parameterDict": pd, "moduleDict": md}))`;
  return JSON.parse(execFileSync(PYTHON, ['-c', code, FILE], { encoding: 'utf8' })) as TorchTimes;
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  if (!existsSync(FILE)) {
    mkdirSync(CACHE, { recursive: true });
    execFileSync(PYTHON, [join(__dirname, '..', 'test', 'fixtures', 'torch', 'make_fixtures.py'), '--bench', CACHE], { stdio: 'inherit' });
  }
  const sd = (await readCheckpoint(FILE)).stateDict;
  const model = resnet18();
  const wrapped = renameKeys(sd, { addPrefix: 'module.' });
  const check = await diffKeys(sd, model);
  if (check.matched.length !== 102 || check.onlyA.length !== 20 || check.onlyB.length || check.mismatched.length) {
    throw new Error(`the TF.js resnet18 does not mirror torchvision's: ${JSON.stringify({ ...check, matched: check.matched.length })}`);
  }
  const wrappedCheck = await diffKeys(wrapped, model);
  if (JSON.stringify(wrappedCheck.suggestions[0]?.rule) !== '{"stripPrefix":"module."}') throw new Error('module. not found');

  const ms = (x: number) => `${x.toFixed(2)} ms`;
  const rows: string[] = [];
  const row = (what: string, t: number, goal?: number, ref?: number) => {
    const g = goal === undefined ? ''.padEnd(17) : `goal < ${goal} ms ${t < goal ? 'met   ' : 'MISSED'}`.padEnd(17);
    rows.push(`${what.padEnd(70)} median ${ms(t).padStart(10)}  ${g}${ref ? `   PyTorch ${ms(ref)}, ratio ${(t / ref).toFixed(2)}` : ''}`.trimEnd());
  };

  const torch = torchTimes();

  row('resnet18: diffKeys(state dict, TF.js model)', await timeIt(() => diffKeys(sd, model)), 5);
  row("resnet18: diffKeys('module.' state dict, TF.js model) + suggestions", await timeIt(() => diffKeys(wrapped, model)), 5);
  row('resnet18: diffKeys(state dict, state dict)', await timeIt(() => diffKeys(sd, sd)), 5);
  row('resnet18: loadStateDict(TF.js model, state dict, strict)', await timeIt(() => loadStateDict(model, sd, { strict: true })), 5, torch.resnet18);
  const slots = weightSlots(model);
  row('resnet18:   of which PyTorch → TF.js layout conversion (host permutes)', await timeIt(() => slots.forEach((s) => s.fromTorch(sd.get(s.torchKey)!))));
  const tfjsSd = stateDictOf(model);
  row('resnet18: loadStateDict(TF.js model, TF.js-layout state dict, strict)', await timeIt(() => loadStateDict(model, tfjsSd, { strict: true })), 5);
  row("resnet18: loadStateDict(TF.js model, 'module.' state dict, map auto)", await timeIt(() => loadStateDict(model, wrapped, { map: 'auto' })), 5);

  const a = synthetic(), b = synthetic(), pa = synthetic('module.');
  row('10,000 keys: diffKeys(state dict, state dict), all matched', await timeIt(() => diffKeys(a, b)), 100);
  row("10,000 keys: diffKeys('module.' state dict, state dict) + suggestions", await timeIt(() => diffKeys(pa, b)), 100);
  const vars: Record<string, Record<string, tf.Variable>> = {};
  for (let i = 0; i < N / 2; i++) vars[String(i)] = { weight: tf.variable(tf.zeros([4, 4])), bias: tf.variable(tf.zeros([4])) };
  const model10k = { blocks: vars };
  const load10k = await timeIt(() => loadStateDict(model10k, a, { strict: true }));
  row('10,000 keys: loadStateDict(object of 10,000 tf.Variables, strict)', load10k, 100, torch.parameterDict);
  rows.push(`${''.padEnd(70)}   (PyTorch ParameterDict of 10,000; the same keys as 5,000 nn.Linear in a ModuleDict: ${ms(torch.moduleDict)}, ratio ${(load10k / torch.moduleDict).toFixed(3)})`);

  console.log(`resnet18 state dict: ${sd.size} keys (102 weights in the TF.js mirror, 20 num_batches_tracked ignored); synthetic: ${N} keys`);
  console.log(`medians of ${RUNS} runs after one warm-up; TF.js backend ${tf.getBackend()}; PyTorch model.load_state_dict with 2 threads, same run`);
  for (const r of rows) console.log(r);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
