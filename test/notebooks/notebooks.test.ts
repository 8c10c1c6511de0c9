/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The tutorial notebooks, executed headless by `tsfreeze run` (the compiled CLI and kernel, as a
 * user runs them) and checked for their key outputs: what each load report says, that frozen
 * weights did not move (guard, fingerprints, drift rows of exactly 0), that the TF.js mirrors
 * reproduce what PyTorch computed, and that every magic ran. The flagship's fine-tuned `.pth`
 * is loaded by PyTorch with strict=True, and its HTML page is opened in headless Chromium: every
 * plot drawn, no page error, nothing fetched from the network. The executed notebooks, pages and
 * a screenshot are left in $TSFREEZE_ARTIFACTS (default <tmpdir>/tsfreeze-artifacts)/notebooks.
 *
 * Each notebook runs from a private copy of notebooks/ (the notebook and data/), so the files it
 * writes to out/ are its own: a run of the same notebook elsewhere (a person, another suite)
 * writing notebooks/out/model.pt between this run's save and load cannot change what it loads.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { CLI, ROOT } from '../helpers/cli';
import { artifactDir, launchChromium } from '../helpers/browser';
import { python, requireTorch } from '../helpers/torch';

const NOTEBOOKS = join(ROOT, 'notebooks');
const PLOTLY = 'application/vnd.plotly.v1+json';
/** Seconds one notebook may take here (they take 5–20 s alone on the 2-core machine; the suite runs files two at a time). */
const LIMIT_S = 120;

let out: string;
/** This file's private working folders, one per notebook: inside the repository, so that `import 'tsfreeze'` resolves. */
let work: string;
let browser: Browser | undefined;

before(() => {
  out = join(artifactDir(), 'notebooks');
  mkdirSync(out, { recursive: true });
  mkdirSync(join(ROOT, 'test', '.artifacts'), { recursive: true });
  work = mkdtempSync(join(ROOT, 'test', '.artifacts', 'notebooks-'));
});

after(async () => {
  await browser?.close();
  if (!process.env.TSFREEZE_KEEP_ARTIFACTS) rmSync(work, { recursive: true, force: true });
});

interface CellResult {
  source: string;
  /** stdout, stderr and the text/plain of every result and display, in order. */
  text: string;
  /** MIME types of the displays and results. */
  mimes: string[];
  errors: string[];
  executed: boolean;
}

interface Executed {
  name: string;
  cells: CellResult[];
  html: string;
  /** The folder the notebook ran in (its out/ holds what it wrote). */
  dir: string;
  seconds: number;
}

/** Runs notebooks/NAME.ipynb with `tsfreeze run` (in its own folder, as Jupyter would: a private copy with data/) and reads the executed notebook back; `prepare` runs in that folder first. */
function execute(name: string, prepare?: (dir: string) => void): Executed {
  if (!statSync(CLI, { throwIfNoEntry: false })) throw new Error(`${CLI} is missing: run npm run build (npm test does it)`);
  const dir = join(work, name);
  mkdirSync(dir);
  copyFileSync(join(NOTEBOOKS, `${name}.ipynb`), join(dir, `${name}.ipynb`));
  // data/generated/ (made by a script, large) is made afresh by `prepare` where a notebook needs it.
  cpSync(join(NOTEBOOKS, 'data'), join(dir, 'data'), { recursive: true, filter: (src) => !src.startsWith(join(NOTEBOOKS, 'data', 'generated')) });
  prepare?.(dir);
  const ipynb = join(out, `${name}.ipynb`);
  const html = join(out, `${name}.html`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, 'run', join(dir, `${name}.ipynb`), '-o', ipynb, '--html', html, '--timeout', String(LIMIT_S)], {
    encoding: 'utf8', cwd: ROOT, timeout: (LIMIT_S + 60) * 1000,
  });
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(r.status, 0, `tsfreeze run ${name}.ipynb failed (exit ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  const nb = JSON.parse(readFileSync(ipynb, 'utf8')) as { cells: Array<{ cell_type: string; source: string[] | string; execution_count: number | null; outputs?: Array<Record<string, unknown>> }> };
  const cells: CellResult[] = nb.cells.filter((c) => c.cell_type === 'code').map((c) => {
    const parts: string[] = [];
    const mimes: string[] = [];
    const errors: string[] = [];
    for (const o of c.outputs ?? []) {
      const join1 = (v: unknown) => (Array.isArray(v) ? v.join('') : String(v ?? ''));
      if (o.output_type === 'stream') parts.push(join1(o.text));
      else if (o.output_type === 'error') errors.push(`${o.ename}: ${o.evalue}`);
      else {
        const data = o.data as Record<string, unknown>;
        mimes.push(...Object.keys(data));
        parts.push(join1(data['text/plain']));
      }
    }
    return { source: Array.isArray(c.source) ? c.source.join('') : c.source, text: parts.join('\n'), mimes, errors, executed: c.execution_count !== null };
  });
  return { name, cells, html, dir, seconds };
}

/** Common checks: every code cell ran without an error, in time. */
function ranClean(ex: Executed): void {
  for (const [i, c] of ex.cells.entries()) {
    assert.deepEqual(c.errors, [], `${ex.name}: code cell ${i + 1} failed:\n${c.source}`);
    assert.ok(c.executed, `${ex.name}: code cell ${i + 1} did not run`);
  }
  assert.ok(ex.seconds < LIMIT_S, `${ex.name} took ${ex.seconds.toFixed(1)} s`);
}

/** The output text of the (first) code cell whose source contains `marker`. */
function cell(ex: Executed, marker: string): CellResult {
  const c = ex.cells.find((x) => x.source.includes(marker));
  assert.ok(c, `${ex.name}: no code cell contains ${JSON.stringify(marker)}`);
  return c;
}

/** The groups of `re` in `text`, or a failure that shows the text. */
function match(text: string, re: RegExp): RegExpMatchArray {
  const m = re.exec(text);
  assert.ok(m, `expected ${re} in:\n${text}`);
  return m;
}

/** Final drift per layer from lines like `  features.0   0.000e+0` (after `prefix`). */
function driftRows(text: string, prefix = ''): Map<string, number> {
  const rows = new Map<string, number>();
  const re = new RegExp(`^\\s*${prefix}(\\S+)\\s+(-?[\\d.]+e[+-]?\\d+)\\s*$`, 'gm');
  for (const m of text.matchAll(re)) rows.set(m[1], Number(m[2]));
  return rows;
}

/** Every plot of a magic or of the live view is a Plotly output. */
function plots(ex: Executed): number {
  return ex.cells.reduce((n, c) => n + c.mimes.filter((m) => m === PLOTLY).length, 0);
}

test('notebooks/ holds the flagship and one tutorial per seed article, each a tsfreeze TypeScript notebook; data files are small', () => {
  const names = readdirSync(NOTEBOOKS).filter((f) => f.endsWith('.ipynb') && !f.endsWith('.executed.ipynb')).sort();
  assert.deepEqual(names.map((n) => n.slice(0, 3)), ['00-', '01-', '02-', '03-', '04-', '05-', 'fla']);
  for (const n of names) {
    const nb = JSON.parse(readFileSync(join(NOTEBOOKS, n), 'utf8'));
    assert.equal(nb.nbformat, 4, n);
    assert.equal(nb.metadata.kernelspec.name, 'tsfreeze', n);
    assert.equal(nb.metadata.language_info.name, 'typescript', n);
    const code = nb.cells.filter((c: { cell_type: string }) => c.cell_type === 'code').map((c: { source: string[] }) => c.source.join('')).join('\n');
    assert.match(code, /from 'tsfreeze'/, `${n} imports the package by name`);
    assert.doesNotMatch(code, /https?:\/\//, `${n} downloads nothing`);
    assert.ok(nb.cells.every((c: { outputs?: unknown[] }) => !c.outputs || c.outputs.length === 0), `${n} is committed without outputs`);
  }
  for (const f of readdirSync(join(NOTEBOOKS, 'data'))) {
    if (f === 'generated') continue; // made by make_resnet.py, ignored by git
    const size = statSync(join(NOTEBOOKS, 'data', f)).size;
    assert.ok(size < 200 * 1024, `notebooks/data/${f} is ${size} bytes`);
  }
});

test('flagship: PyTorch checkpoint (DataParallel) to a fine-tuned TF.js model; PyTorch loads the result; the HTML page draws every plot in Chromium', async () => {
  const launching = launchChromium();
  const ex = execute('flagship-pytorch-to-tfjs');
  ranClean(ex);
  assert.match(cell(ex, '%backend').text, /backend\s+\w+/);
  assert.match(cell(ex, 'const diff = await diffKeys').text, /matched: 0[\s\S]*strip the prefix 'module\.'/);
  assert.match(cell(ex, '%diffkeys').text, /0 matched/);
  const naive = cell(ex, 'const naive').text;
  assert.match(naive, /NOTHING was loaded/);
  assert.match(naive, /naive load: 0 loaded, 14 missing, 14 unexpected/); // num_batches_tracked counted apart, as ignored
  assert.match(cell(ex, 'const report = await loadStateDict').text, /loaded 12, missing 0, unexpected 0, mismatched 2, ignored 2/);
  const parity = Number(match(cell(ex, 'const probe =').text, /largest difference from PyTorch's probabilities: (\S+)/)[1]);
  assert.ok(parity < 1e-5, `TF.js mirror vs PyTorch: ${parity}`);
  assert.match(cell(ex, 'const frozen = freeze').text, /frozen: 12 tensors; BatchNorm layers in inference mode: features\.1, features\.5/);
  const proof = cell(ex, 'const changes = compareFrozen').text;
  assert.match(proof, /fingerprinted tensors: 12, changed: 0/);
  assert.match(proof, /frozen tensors bit-identical after training: 12 of 12/);
  const drift = driftRows(proof);
  for (const layer of ['features.0', 'features.1', 'features.4', 'features.5']) assert.equal(drift.get(layer), 0, `drift of frozen ${layer}`);
  assert.ok(drift.get('classifier')! > 0, 'the head trained');
  assert.match(cell(ex, '%checkfrozen').text, /unchanged: all 12 frozen tensors/);
  const accuracy = cell(ex, 'const baseline').text;
  const pretrained = Number(match(accuracy, /pretrained backbone: ([\d.]+)/)[1]);
  const random = Number(match(accuracy, /random frozen backbone: +([\d.]+)/)[1]);
  assert.ok(pretrained >= 0.9 && pretrained > random, `validation accuracy: pretrained ${pretrained}, random backbone ${random}`);
  assert.match(cell(ex, "writeCheckpoint('out/stripes_finetuned.pth'").text, /reloaded 14 tensors .*largest prediction difference: 0$/m);
  assert.ok(plots(ex) >= 4, `plots: ${plots(ex)}`);

  // The fine-tuned model, saved in PyTorch's layout, loads into the PyTorch class with strict=True.
  requireTorch();
  const loaded = python(`
import sys; sys.dont_write_bytecode = True; sys.path.insert(0, sys.argv[1])
import torch
from make_checkpoints import StripesNet
m = StripesNet(3)
print(m.load_state_dict(torch.load(sys.argv[2], weights_only=True), strict=True))`, [join(NOTEBOOKS, 'data'), join(ex.dir, 'out', 'stripes_finetuned.pth')]);
  assert.match(loaded, /All keys matched successfully/);

  browser = await launching;
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('request', (r) => { if (!/^(file|data):/.test(r.url())) problems.push(`request: ${r.url()}`); });
  await page.goto(pathToFileURL(ex.html).href);
  await page.waitForFunction((n) => {
    const divs = document.querySelectorAll('div.tsfreeze-plot');
    return divs.length === n && [...divs].every((d) => d.querySelector('svg.main-svg'));
  }, plots(ex), { timeout: 30_000 });
  const body = await page.innerText('body');
  assert.match(body, /From a PyTorch checkpoint to a fine-tuned TF\.js model/);
  assert.match(body, /frozen tensors bit-identical after training: 12 of 12/);
  await page.screenshot({ path: join(out, 'flagship.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test('00 (seed 000): the attention_map. prefix loads nothing, loudly; the diff finds the prefix; after the fix PyTorch\'s masks come out; frozen part constant', () => {
  const ex = execute('00-partial-loading-attention-map');
  ranClean(ex);
  assert.match(cell(ex, 'const ck = await readCheckpoint').text, /root: 'net'[\s\S]*"epoch":6/);
  assert.match(cell(ex, 'const alone =').text, /loaded 14 tensors; ignored 1\.num_batches_tracked, 4\.num_batches_tracked/);
  const masks = match(cell(ex, 'const probe =').text, /largest difference from PyTorch's masks: (\S+); IoU with the truth: ([\d.]+)/);
  assert.ok(Number(masks[1]) < 1e-5 && Number(masks[2]) === 1, masks[0]);
  assert.match(cell(ex, 'await loadStateDict(net, pretrained, { strict: true })').text, /LoadError: .*18 missing key\(s\).*14 unexpected key\(s\).*\(2 ignored entries such as num_batches_tracked not counted\)/);
  assert.match(cell(ex, 'const kept = filterStateDict').text, /^kept 0 of 16/m);
  const empty = cell(ex, 'const emptyLoad').text;
  assert.match(empty, /NOTHING was loaded[\s\S]*add the prefix 'attention_map\.'/);
  assert.match(empty, /loaded 0, missing 18, unexpected 14/);
  assert.ok(Number(match(cell(ex, 'const randomMasks').text, /IoU with the truth: ([\d.]+)/)[1]) < 0.9, 'an unloaded attention map is not the pretrained one');
  assert.match(cell(ex, 'const diff = await diffKeys').text, /add the prefix 'attention_map\.'.*\(\+14\)/);
  assert.match(cell(ex, 'const renamed =').text, /loaded 14, missing 4 \(features\.weight, features\.bias, classifier\.weight, classifier\.bias\), unexpected 0, ignored 2/);
  assert.match(cell(ex, '%load net').text, /Loaded 14 of net's 18 weights/);
  const fixed = match(cell(ex, 'const fixedMasks').text, /largest difference from PyTorch's masks: (\S+); IoU with the truth: ([\d.]+)/);
  assert.ok(Number(fixed[1]) < 1e-5 && Number(fixed[2]) === 1, fixed[0]);
  assert.match(cell(ex, "const frozen = freeze(net, 'attention_map')").text, /frozen 14 tensors; BatchNorm layers in inference mode: attention_map\.1, attention_map\.4/);
  const check = cell(ex, 'const changed = compareFrozen').text;
  assert.match(check, /frozen tensors checked: 14, changed: 0/);
  const drift = driftRows(check, 'drift ');
  for (const l of ['attention_map.0', 'attention_map.1', 'attention_map.3', 'attention_map.4', 'attention_map.6']) assert.equal(drift.get(l), 0, l);
  assert.ok(drift.get('features')! > 0 && drift.get('classifier')! > 0);
  assert.match(cell(ex, '%checkfrozen net').text, /unchanged: all 14 frozen tensors/);
  assert.match(cell(ex, 'const firstBlock').text, /frozen now: attention_map\.0\.kernel, attention_map\.0\.bias, attention_map\.1\.gamma, attention_map\.1\.beta, attention_map\.1\.moving_mean, attention_map\.1\.moving_variance$/m);
  assert.match(cell(ex, '%freeze net').text, /froze 6 tensors of net/);
  assert.ok(plots(ex) >= 3, `plots: ${plots(ex)}`);
});

test('01 (seed 001): module. stripped, the fixed part frozen with its BatchNorm statistics; without the fix they drift and the guard names them; merge passes a strict load', () => {
  const ex = execute('01-freeze-what-was-loaded');
  ranClean(ex);
  assert.match(cell(ex, 'const tricky').text, /pythonReplace: 'encoder\.sub0\.weight', stripPrefix: 'encoder\.submodule\.0\.weight'/);
  assert.match(cell(ex, '%rename fromFile').text, /16 of 16 keys renamed/);
  assert.match(cell(ex, 'const { stateDict: preStateDict').text, /fixed part: 12 tensors/);
  assert.match(cell(ex, 'const report = await loadStateDict').text, /loaded 12, missing 8 \(the new parts\), unexpected 0/);
  const training = cell(ex, 'const beforeTraining').text;
  assert.match(training, /updated: stage2\.0\.kernel, stage2\.0\.bias, stage2\.1\.gamma, stage2\.1\.beta, pred\.kernel, pred\.bias$/m);
  assert.match(training, /never handed to an optimizer: 12 frozen tensors/);
  const bn = cell(ex, 'async function run').text;
  const rows = new Map([...bn.matchAll(/^(\S+)\s+(\S+e[+-]\d+)\s+(\S+e[+-]\d+)$/gm)].map((m) => [m[1], [Number(m[2]), Number(m[3])]]));
  for (const l of ['features.1', 'features.5']) assert.ok(rows.get(l)![0] > 0 && rows.get(l)![1] === 0, `${l}: ${rows.get(l)} (bnStats train vs freeze)`);
  for (const l of ['features.0', 'features.4']) assert.deepEqual(rows.get(l), [0, 0], l);
  assert.ok(rows.get('stage2.1')![1] > 0, 'the new BatchNorm still learns its statistics');
  assert.match(bn, /vs 0 \(freeze\)/);
  assert.match(bn, /moved \(freeze\): 0/);
  assert.match(cell(ex, 'checkFrozen(asPyTorchRequiresGrad').text, /4 frozen weights changed: features\.1\.moving_mean[\s\S]*with freeze: 12 tensors checked, 0 changed/);
  assert.match(cell(ex, 'const afterTraining').text, /12 of 12 frozen tensors exactly equal/);
  assert.match(cell(ex, '%checkfrozen model').text, /unchanged: all 12 frozen tensors/);
  const merge = cell(ex, 'const finalDict').text;
  assert.match(merge, /strict load of the trained state dict alone: .*4 missing key\(s\)/);
  assert.match(merge, /merged: 20 tensors; strict load: 20 loaded, 0 missing, 0 unexpected/);
  assert.match(merge, /from the original: true[\s\S]*from the trained model: true/);
  assert.match(cell(ex, "writeCheckpoint('out/seed001_final.pth'").text, /20 tensors \(pytorch-zip\)/);
});

test('02 (seed 002): initialisers as the article\'s, head-only fine-tune, changed inner layers by filter/update/load, each parameter group at its own learning rate', () => {
  const ex = execute('02-init-and-finetune');
  ranClean(ex);
  const init = match(cell(ex, 'const conv1 =').text, /max \|w\| ([\d.]+) ≤ bound ([\d.]+)/);
  assert.ok(Number(init[1]) <= Number(init[2]), init[0]);
  assert.match(cell(ex, 'const pretrainedReport').text, /pretrained: 14 tensors loaded \(strict\)/);
  assert.match(cell(ex, 'const headOnly').text, /optimizer updated: fc\.kernel, fc\.bias/);
  assert.match(cell(ex, 'const initialised = weightInit').text, /weight_init set: .*convtranspose1\.kernel/);
  assert.match(cell(ex, 'const modelDict').text, /kept 12 pretrained tensors[\s\S]*strict load: 15 tensors/);
  assert.match(cell(ex, 'const cnn2').text, /missing \(keep weight_init\): convtranspose1\.weight, f_add\.weight, f_add\.bias; unexpected: classifier\.weight, classifier\.bias[\s\S]*same backbone weights: true/);
  const ratios = new Map([...cell(ex, 'const probeModel').text.matchAll(/^(\S+)\s+Δw \/ grad = (\S+)/gm)].map((m) => [m[1], m[2]]));
  for (const k of ['features.0.kernel', 'features.1.gamma', 'features.4.kernel', 'features.5.beta']) assert.ok(Math.abs(Number(ratios.get(k)) + 1e-3) < 1e-6, `${k}: ${ratios.get(k)}`);
  for (const k of ['fc.kernel', 'fc.bias']) assert.ok(Math.abs(Number(ratios.get(k)) + 1e-2) < 1e-5, `${k}: ${ratios.get(k)}`);
  const drift = driftRows(cell(ex, 'const globalModel').text, 'drift ');
  assert.equal(drift.size, 5);
  for (const [l, v] of drift) assert.ok(v > 0, `everything fine-tuned: ${l} ${v}`);
  assert.ok(drift.get('fc')! > drift.get('features.0')!, 'the new layer moved most');
});

test('03 (seed 003): LeNet5 keys as the article prints them, save/load for inference, exact resume with optimizer state, LeNet5 → LeNet6 by key and shape', () => {
  const ex = execute('03-save-resume-transfer');
  ranClean(ex);
  const keys = cell(ex, 'const model = leNet(false)').text;
  for (const line of ['conv.0.weight    [6, 1, 5, 5]', 'conv.3.weight    [16, 6, 5, 5]', 'fc.1.weight      [120, 400]', 'fc.3.weight      [84, 120]', 'fc.5.weight      [10, 84]']) assert.ok(keys.includes(line), line);
  assert.match(cell(ex, 'const moon').text, /'moon\.7\.weight'[\s\S]*'moon\.11\.bias'/);
  const saved = Number(match(cell(ex, "writeCheckpoint('out/model.pt'").text, /accuracy on the test digits: ([\d.]+)/)[1]);
  assert.ok(saved > 0.5, `LeNet5 learned the digits: ${saved}`);
  const snap = cell(ex, 'const bestModelState').text;
  const s = match(snap, /snapshot: (\S+) → (\S+)/), v = match(snap, /variable: (\S+) → (\S+)/);
  assert.equal(s[1], s[2], 'the snapshot is a copy');
  assert.notEqual(v[1], v[2], 'the variable trained on');
  assert.equal(Number(match(cell(ex, 'const restored').text, /loaded 10 tensors .*Accuracy in test data is : ([\d.]+)/)[1]), saved);
  assert.match(cell(ex, "saveTrainingCheckpoint('out/resume.pth'").text, /"epoch":4[\s\S]*optimizer_state_dict\.0000\.iterations[\s\S]*31 tensors in all/);
  const resume = cell(ex, 'const sameEpoch').text;
  const withState = Number(match(resume, /resumed with optimizer state: largest weight difference (\S+)/)[1]);
  const weightsOnly = Number(match(resume, /resumed with weights only: +largest weight difference (\S+)/)[1]);
  // With the state (and Adam's β powers replayed on load) nothing separates the runs; without it, ~1e-2.
  assert.equal(withState, 0, 'a resumed run repeats the uninterrupted one bit for bit');
  assert.ok(weightsOnly > 1e-4, `resume with weights only: ${weightsOnly}`);
  assert.match(cell(ex, 'const transferDiff').text, /sameKeyOtherShape: \[\s*'fc\.5\.weight: \[10,84\] in LeNet5, \[64,84\] in LeNet6'/);
  const transfer = cell(ex, 'const lenet5Dict').text;
  assert.equal([...transfer.matchAll(/^成功初始化参数: /gm)].length, 8);
  assert.match(transfer, /loaded 8; left to their initialisation: fc\.5\.weight, fc\.5\.bias, fc\.7\.weight, fc\.7\.bias/);
  const acc = match(cell(ex, 'const scratchLeNet6').text, /acc on test ([\d.]+) \(transferred\), ([\d.]+) \(from scratch\)/);
  assert.ok(Number(acc[1]) > Number(acc[2]), `after one epoch: transferred ${acc[1]}, from scratch ${acc[2]}`);
});

test('04 (seed 004): whole-module m.pth read without running it; delete/freeze/detach steps equal PyTorch\'s; a late freeze does not move; replace and add report what loaded', () => {
  const ex = execute('04-delete-add-replace-detach');
  ranClean(ex);
  assert.match(cell(ex, "readCheckpoint('data/m.pth')").text, /__main__\.M[^\n]*no code ran/);
  // Every comparison with PyTorch's recorded values, across the notebook.
  const diffs = ex.cells.flatMap((c) => [...c.text.matchAll(/^(\S+).* max \|TF\.js − PyTorch\| (\S+)$/gm)].map((m) => `${c.source.split('\n')[0]} ${m[1]} ${m[2]}`));
  assert.ok(diffs.length >= 20, `comparisons: ${diffs.length}`);
  for (const d of diffs) assert.ok(Number(d.split(' ').at(-1)) < 1e-6, d);
  const out = match(cell(ex, 'const output =').text, /TF\.js m1\(t\)\s+= (\S+)\nby hand 2·w₀\+w₁\+b\s+= (\S+)\nPyTorch m1\(t\)\s+= (\S+)/);
  assert.ok(Math.abs(Number(out[1]) - Number(out[3])) < 1e-6 && Math.abs(Number(out[1]) - Number(out[2])) < 1e-6, out[0]);
  for (const marker of ['const deleteStep', 'const freezeStep', 'const detachStep']) {
    const l = match(cell(ex, marker).text, /loss (\S+) \(PyTorch (\S+)\)/);
    assert.equal(l[1], l[2], `${marker}: ${l[0]}`);
  }
  assert.match(cell(ex, 'const freezeStep').text, /frozen: liner1\.kernel, liner1\.bias; trained: liner2\.kernel, liner2\.bias/);
  assert.ok(Number(match(cell(ex, 'late_freeze_liner1_change').text, /moved by up to (\S+)/)[1]) > 0, 'PyTorch\'s late-freeze pitfall is real');
  assert.match(cell(ex, 'const late =').text, /largest change on the next step 0$/m);
  assert.match(cell(ex, 'const A =').text, /A\.kernel: sum of \|gradient\| 0'[\s\S]*A\.bias: sum of \|gradient\| 0'[\s\S]*B\.kernel: sum of \|gradient\| [1-9]/);
  assert.match(cell(ex, 'const byLoad').text, /loaded liner1\.bias, liner2\.weight, liner2\.bias; mismatched liner1\.weight \[2,3\] vs \[2,4\][\s\S]*loaded liner2\.weight, liner2\.bias; missing liner1\.weight, liner1\.bias/);
  assert.match(cell(ex, 'const added =').text, /loaded liner2\.weight, liner2\.bias; missing liner3\.weight, liner3\.bias; unexpected liner1\.weight, liner1\.bias/);
  assert.match(cell(ex, '%diffkeys data/m.pth added').text, /2 matched/);
});

test('05: a torchvision ResNet from PyTorch rebuilt by the zoo, loaded strictly, equal to PyTorch, head replaced, backbone frozen with BatchNorm, head trained, proven constant, saved back for PyTorch', () => {
  requireTorch();
  const ex = execute('05-finetune-resnet', (dir) => {
    const r = spawnSync('/usr/bin/python3', [join(dir, 'data', 'make_resnet.py'), join(dir, 'data', 'generated')], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `make_resnet.py failed:\n${r.stderr}`);
  });
  ranClean(ex);
  assert.match(cell(ex, 'const model = resnet(').text, /62 weights; same keys in the same order as the checkpoint: true/);
  assert.match(cell(ex, '%diffkeys data/generated/resnet_shapes.pth model').text, /62 matched/);
  assert.match(cell(ex, 'const report = await loadStateDict').text, /loaded 62, missing 0, unexpected 0, ignored 12/);
  const parity = Number(match(cell(ex, 'const probeX').text, /largest difference from PyTorch's logits: (\S+)/)[1]);
  assert.ok(parity < 1e-4, `zoo ResNet vs PyTorch: ${parity}`);
  assert.ok(Number(match(cell(ex, 'const rebuilt').text, /rebuilt ResNet with 4913604 parameters; largest difference from the zoo model: (\S+)/)[1]) < 1e-6);
  assert.match(cell(ex, 'function prepare').text, /frozen: 60 tensors; BatchNorm layers in inference mode: 12\nhead: fc\.weight \[3, 512\], fc\.bias \[3\]/);
  const accs = [...cell(ex, 'const history = await train').text.matchAll(/validation accuracy ([\d.]+)/g)].map((m) => Number(m[1]));
  assert.equal(accs.length, 4);
  assert.ok(accs[3] >= 0.7, `a frozen pretrained backbone with a new head learns the new shapes: ${accs}`);
  assert.match(cell(ex, 'const history = await train').text, /frozen features cached after flatten: [\d.]+ MiB, computed once/);
  assert.match(cell(ex, 'const changes = compareFrozen').text, /frozen tensors checked: 60, changed: 0, largest change: 0\nlayers whose weights moved: fc; the other 24 layers: drift exactly 0/);
  assert.match(cell(ex, '%checkfrozen ft').text, /unchanged: all 60 frozen tensors/);
  assert.match(cell(ex, "writeCheckpoint('out/resnet_shapes_finetuned.pth'").text, /wrote 62 tensors \(pytorch-zip\)/);
  const big = match(cell(ex, 'const big = resnet18').text, /resnet18: loaded 102 tensors strictly; largest difference from PyTorch's logits on 64×64 images: (\S+)/);
  assert.ok(Number(big[1]) < 1e-4, big[0]);
  assert.match(cell(ex, 'const big = resnet18').text, /Trainable params: 1,539/);
  assert.ok(plots(ex) >= 2, `plots: ${plots(ex)}`);

  // PyTorch takes the fine-tuned .pth into the same class strictly and computes the same logits.
  const checked = python(`
import sys, json, torch, numpy as np
from torchvision.models.resnet import BasicBlock, ResNet
m = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=3)
r = m.load_state_dict(torch.load(sys.argv[1], weights_only=True), strict=True)
m.eval()
data = torch.load(sys.argv[2])
x = data['finetune.val.x'][:8].permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
with torch.no_grad():
    y = m(x).numpy()
raw = open(sys.argv[3], 'rb').read()
n = int.from_bytes(raw[:8], 'little')
ours = np.frombuffer(raw[8 + n:], dtype='<f4').reshape(y.shape)
print(json.dumps({'missing': r.missing_keys, 'unexpected': r.unexpected_keys, 'diff': float(np.abs(ours - y).max())}))`,
  [join(ex.dir, 'out', 'resnet_shapes_finetuned.pth'), join(ex.dir, 'data', 'generated', 'shapes_data.pth'), join(ex.dir, 'out', 'finetuned_probe.safetensors')]);
  const c = JSON.parse(checked) as { missing: string[]; unexpected: string[]; diff: number };
  assert.deepEqual([c.missing, c.unexpected], [[], []]);
  assert.ok(c.diff < 1e-4, `PyTorch on the fine-tuned weights differs from TF.js by ${c.diff}`);
});
