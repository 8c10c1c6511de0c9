/**
 * Benchmark: diffKeys and loadStateDict on torchvision resnet18's state dict (122 keys, written
 * by torchvision on the first run into bench/.cache; into a TF.js resnet18 of the model zoo,
 * lib/models) and on synthetic 10,000-key ones, with PyTorch's
 * `model.load_state_dict(sd)` (torch.set_num_threads(2)) measured in the same run, on the wasm
 * backend (what setBackend('auto') picks here) and on cpu. Goals: resnet18 under 5 ms (issue 13:
 * 10 ms), 10,000 keys under 100 ms. Prints medians; CPU time too (this machine is shared).
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
import { permutedTensor } from '../lib/backend/permuted-tensor';
import { setBackend } from '../lib/backend';
import type { HostTensor, StateDict } from '../lib/statedict/tensor';
import { resnet18 } from '../lib/models';

const PYTHON = '/usr/bin/python3';
const CACHE = join(__dirname, '.cache');
const FILE = join(CACHE, 'resnet18.pth');
const RUNS = 15;
const N = 10_000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** CPU milliseconds of this process so far (less sensitive than wall time to other processes). */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

let lastCpu = 0;

async function timeIt(fn: () => unknown, runs = RUNS): Promise<number> {
  await fn(); // warm-up: JIT, TF.js kernels
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = cpuMs();
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
    cpu.push(cpuMs() - c0);
  }
  lastCpu = median(cpu);
  return median(times);
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
  await setBackend('cpu');
  if (!existsSync(FILE)) {
    mkdirSync(CACHE, { recursive: true });
    execFileSync(PYTHON, [join(__dirname, '..', 'test', 'fixtures', 'torch', 'make_fixtures.py'), '--bench', CACHE], { stdio: 'inherit' });
  }
  const sd = (await readCheckpoint(FILE)).stateDict;
  const model = resnet18();
  const wrapped = renameKeys(sd, { addPrefix: 'module.' });
  const check = await diffKeys(sd, model);
  if (check.matched.length !== 102 || check.ignored.a.length !== 20 || check.onlyA.length || check.onlyB.length || check.mismatched.length) {
    throw new Error(`the zoo's resnet18 does not mirror torchvision's: ${JSON.stringify({ ...check, matched: check.matched.length })}`);
  }
  const wrappedCheck = await diffKeys(wrapped, model);
  if (JSON.stringify(wrappedCheck.suggestions[0]?.rule) !== '{"stripPrefix":"module."}') throw new Error('module. not found');

  const ms = (x: number) => `${x.toFixed(2)} ms`;
  const rows: string[] = [];
  const row = (what: string, t: number, goal?: number, ref?: number) => {
    const g = goal === undefined ? ''.padEnd(17) : `goal < ${goal} ms ${t < goal ? 'met   ' : 'MISSED'}`.padEnd(17);
    rows.push(`${what.padEnd(78)} median ${ms(t).padStart(10)} (CPU ${ms(lastCpu).padStart(9)})  ${g}${ref ? `   PyTorch ${ms(ref)}, ratio ${(t / ref).toFixed(2)}` : ''}`.trimEnd());
  };

  const torch = torchTimes();

  row('resnet18: diffKeys(state dict, TF.js model)', await timeIt(() => diffKeys(sd, model)), 5);
  row("resnet18: diffKeys('module.' state dict, TF.js model) + suggestions", await timeIt(() => diffKeys(wrapped, model)), 5);
  row('resnet18: diffKeys(state dict, state dict)', await timeIt(() => diffKeys(sd, sd)), 5);
  for (const backend of ['wasm', 'cpu'] as const) {
    await setBackend(backend);
    const on = `[${backend}]`;
    row(`resnet18 ${on}: loadStateDict(TF.js model, state dict, strict)`, await timeIt(() => loadStateDict(model, sd, { strict: true })), 10, torch.resnet18);
    const slots = weightSlots(model);
    row(`resnet18 ${on}:   of which PyTorch → TF.js layout conversion (host permutes)`, await timeIt(() => slots.forEach((s) => s.fromTorch(sd.get(s.torchKey)!))));
    // What loadStateDict would cost converting on the backend (lib/model/load.ts does not yet):
    // permutedTensor for the 4-D and 2-D kernels, the rest uploaded as in loadStateDict.
    const convertOnBackend = (): void => {
      const values = slots.map((s): [typeof s, tf.Tensor] => {
        const t = sd.get(s.torchKey)!;
        if (t.shape.length === 4) return [s, permutedTensor(t, [2, 3, 1, 0])];
        if (t.shape.length === 2) return [s, permutedTensor(t, [1, 0])];
        return [s, tf.tensor((t.data as Float32Array).slice(), s.shape)];
      });
      for (const [s, v] of values) { s.write(v); v.dispose(); }
    };
    row(`resnet18 ${on}: conversion on the backend (permutedTensor) + writes, no checks`, await timeIt(convertOnBackend), 10, torch.resnet18);
    const tfjsSd = stateDictOf(model);
    row(`resnet18 ${on}: loadStateDict(TF.js model, TF.js-layout state dict, strict)`, await timeIt(() => loadStateDict(model, tfjsSd, { strict: true })), 10);
    row(`resnet18 ${on}: loadStateDict(TF.js model, 'module.' state dict, map auto)`, await timeIt(() => loadStateDict(model, wrapped, { map: 'auto' })), 10);
  }
  await setBackend('cpu');

  const a = synthetic(), b = synthetic(), pa = synthetic('module.');
  row('10,000 keys: diffKeys(state dict, state dict), all matched', await timeIt(() => diffKeys(a, b)), 100);
  row("10,000 keys: diffKeys('module.' state dict, state dict) + suggestions", await timeIt(() => diffKeys(pa, b)), 100);
  const vars: Record<string, Record<string, tf.Variable>> = {};
  for (let i = 0; i < N / 2; i++) vars[String(i)] = { weight: tf.variable(tf.zeros([4, 4])), bias: tf.variable(tf.zeros([4])) };
  const model10k = { blocks: vars };
  const load10k = await timeIt(() => loadStateDict(model10k, a, { strict: true }));
  row('10,000 keys: loadStateDict(object of 10,000 tf.Variables, strict)', load10k, 100, torch.parameterDict);
  rows.push(`${''.padEnd(78)}   (PyTorch ParameterDict of 10,000; the same keys as 5,000 nn.Linear in a ModuleDict: ${ms(torch.moduleDict)}, ratio ${(load10k / torch.moduleDict).toFixed(3)})`);

  console.log(`resnet18 state dict: ${sd.size} keys (102 weights in the zoo's resnet18, 20 num_batches_tracked ignored); synthetic: ${N} keys`);
  console.log(`medians of ${RUNS} runs after one warm-up (wall time; CPU time of this process in brackets); PyTorch model.load_state_dict with 2 threads, same run`);
  for (const r of rows) console.log(r);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
