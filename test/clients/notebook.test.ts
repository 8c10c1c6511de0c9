/// <reference lib="dom" />
/**
 * The kernel as real Jupyter clients meet it: Debian's classic Notebook 6.4 server (one start,
 * on 127.0.0.1 with a token, Jupyter dirs and the kernelspec in a temporary prefix, serving a
 * temporary folder outside the repository) driven by Debian's Chromium through playwright-core
 * (one browser); and `jupyter nbconvert --execute` of notebooks in temporary folders.
 *
 * In the browser: a new notebook on the tsfreeze kernel (kernel logo shown), cells typed and
 * run, completion (Tab) and inspection (Shift+Tab inside a call's parentheses), a traceback with
 * cell line numbers, a UsageError without stack lines, tsfreeze and TF.js imported with their
 * types, interrupt (variables kept), restart (variables gone), save and reopen; then Run All of
 * the flagship notebook, its plot cells re-run three times, saved, reopened trusted: every plot
 * is drawn by plotly.js. The saved notebook is left in $TSFREEZE_ARTIFACTS/clients.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startNotebookServer, launchClientChromium, type NotebookServer } from '../helpers/notebook-server';
import { artifactDir } from '../helpers/browser';
import { PYTHON, requirePython } from '../helpers/jupyter';
import { REPO } from '../helpers/kernelspec';

const PLOTLY = 'application/vnd.plotly.v1+json';
const FLAGSHIP = 'flagship-pytorch-to-tfjs';

let server: NotebookServer;
let browser: Browser;
let context: BrowserContext;
/** The notebook the first tests share (one kernel). */
let nb: Page;
const pageErrors: string[] = [];

before(async () => {
  requirePython('nbconvert', 'nbclient', 'notebook');
  [server, browser] = await Promise.all([startNotebookServer(), launchClientChromium()]);
  context = await browser.newContext();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

interface JupyterWindow {
  Jupyter: {
    notebook: {
      kernel: { is_connected(): boolean } | null;
      trusted: boolean;
      notebook_path: string;
      get_cells(): Cell[];
      get_cell(i: number): Cell;
      insert_cell_at_bottom(type: string): Cell;
      select(i: number): void;
      execute_cells(indices: number[]): void;
      events: { one(name: string, f: () => void): void };
      _fully_loaded: boolean;
    };
  };
}
interface Cell {
  cell_type: string;
  input_prompt_number: number | string | null | undefined;
  get_text(): string;
  set_text(t: string): void;
  execute(): void;
  output_area: { outputs: Output[] };
}
interface Output { output_type: string; text?: string; traceback?: string[]; ename?: string; data?: Record<string, unknown>; name?: string }

/** Waits until the notebook page has loaded its notebook and its kernel is connected. */
async function ready(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const J = (window as unknown as JupyterWindow).Jupyter;
    return !!J?.notebook?._fully_loaded && !!J.notebook.kernel?.is_connected();
  }, null, { timeout: 60_000 });
}

/** Waits until code cells `indices` (all code cells when omitted) have run: a number in their prompt. */
async function finished(page: Page, indices?: number[], timeout = 120_000): Promise<void> {
  await page.waitForFunction((idx) => {
    const cells = (window as unknown as JupyterWindow).Jupyter.notebook.get_cells();
    const chosen = idx ? idx.map((i) => cells[i]) : cells.filter((c) => c.cell_type === 'code' && c.get_text().trim());
    return chosen.every((c) => typeof c.input_prompt_number === 'number');
  }, indices, { timeout, polling: 200 });
}

/** Adds a cell at the bottom with `code`, runs it, waits for it, and returns its outputs. */
async function run(page: Page, code: string, timeout = 60_000): Promise<Output[]> {
  const index = await page.evaluate((c) => {
    const n = (window as unknown as JupyterWindow).Jupyter.notebook;
    const cell = n.insert_cell_at_bottom('code');
    cell.set_text(c);
    cell.execute();
    return n.get_cells().length - 1;
  }, code);
  await finished(page, [index], timeout);
  return outputsOf(page, index);
}

function outputsOf(page: Page, index: number): Promise<Output[]> {
  return page.evaluate((i) => JSON.parse(JSON.stringify((window as unknown as JupyterWindow).Jupyter.notebook.get_cell(i).output_area.outputs)) as Output[], index);
}

/** Text as nbformat stores it: a string, or a list of lines. */
function joined(x: unknown): string {
  return Array.isArray(x) ? x.join('') : x === undefined ? '' : String(x);
}

/** The text/plain of an output's bundle. */
function plain(o: Output | undefined): string {
  return joined(o?.data?.['text/plain']);
}

/** Stream text, tracebacks and the text/plain of results of outputs, joined. */
function textOf(outputs: Output[]): string {
  return outputs.map((o) => joined(o.text) + (o.traceback ?? []).join('\n') + plain(o)).join('\n');
}

/** Clicks menu `menu` (its id) and then item `item`. */
async function menu(page: Page, menuId: string, itemId: string): Promise<void> {
  await page.click(`#${menuId}`);
  await page.click(`#${itemId} > a`);
}

test('a new notebook on the tsfreeze kernel: logo, typed cells, completion, inspection inside a call', { timeout: 120_000 }, async () => {
  const tree = await context.newPage();
  await tree.goto(`${server.url}tree?token=${server.token}`);
  await tree.click('#new-dropdown-button');
  [nb] = await Promise.all([context.waitForEvent('page'), tree.click('#kernel-tsfreeze > a')]);
  nb.on('pageerror', (e) => pageErrors.push(e.message));
  await ready(nb);
  await tree.close();

  // A cell typed and run with Shift+Enter.
  await nb.click('.cell .CodeMirror');
  await nb.keyboard.type('const answer: number = 40 + 2;\nanswer');
  await nb.keyboard.press('Shift+Enter');
  await finished(nb, [0]);
  const first = await outputsOf(nb, 0);
  assert.deepEqual(first.map((o) => [o.output_type, o.data?.['text/plain']]), [['execute_result', '42']]);

  // Completion: Tab after `Math.m` lists Math's members starting with m.
  await nb.keyboard.type('Math.m');
  await nb.keyboard.press('Tab');
  await nb.waitForSelector('#complete select', { timeout: 30_000 });
  const options = await nb.locator('#complete select option').allTextContents();
  assert.ok(options.includes('max') && options.includes('min'), `completions: ${options.join(', ')}`);
  await nb.keyboard.press('Escape');

  // Inspection: Shift+Tab between a call's parentheses shows the function called (as with ipykernel).
  await nb.evaluate(() => (window as unknown as JupyterWindow).Jupyter.notebook.get_cell(1).set_text(''));
  await nb.click('.cell:nth-child(2) .CodeMirror');
  await nb.keyboard.type('answer.toFixed(');
  assert.equal(await nb.evaluate(() => (window as unknown as JupyterWindow).Jupyter.notebook.get_cell(1).get_text()), 'answer.toFixed()', 'CodeMirror closed the parenthesis; the cursor is inside');
  await nb.keyboard.press('Shift+Tab');
  const tip = nb.locator('#tooltip .tooltiptext');
  await tip.waitFor({ state: 'visible', timeout: 30_000 });
  assert.match(String(await tip.textContent()), /toFixed\(fractionDigits\?: number\): string/);
  await nb.keyboard.press('Escape');
  await nb.evaluate(() => (window as unknown as JupyterWindow).Jupyter.notebook.get_cell(1).set_text(''));

  // The kernelspec's logo, served by the notebook server.
  const logo = nb.locator('img.current_kernel_logo');
  await logo.waitFor({ state: 'visible', timeout: 10_000 });
  assert.match(String(await logo.getAttribute('src')), /kernelspecs\/tsfreeze\/logo-64x64\.png/);
  assert.equal(await logo.evaluate((img: HTMLImageElement) => img.naturalWidth), 64);
});

test('a notebook outside the clone imports tsfreeze and TF.js, with their types and one TF.js', { timeout: 120_000 }, async () => {
  const out = await run(nb, "import * as tf from '@tensorflow/tfjs';\nimport { stateDictOf, trainableSummary } from 'tsfreeze';\nconst model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });\ntrainableSummary(model).totals.total");
  assert.deepEqual(out.filter((o) => o.output_type === 'execute_result').map((o) => o.data?.['text/plain']), ['8'], textOf(out));
  assert.doesNotMatch(textOf(out), /already registered/);
  // The type checker knows tsfreeze's types: a wrong argument is a compile error naming them.
  const wrong = await run(nb, 'stateDictOf(42)');
  assert.equal(wrong[0]?.ename, 'CompileError');
  assert.match(textOf(wrong), /not assignable to parameter of type 'ModelLike'/);
});

test("results display themselves: a cell ending in loadStateDict, diffKeys, freeze, trainableSummary or a figure shows what the magic shows", { timeout: 120_000 }, async () => {
  // A checkpoint whose keys carry a prefix the model lacks: the load warns and suggests the fix.
  await run(nb, "import { writeCheckpoint, renameKeys, loadStateDict, diffKeys, freeze, parameterCountsFigure } from 'tsfreeze';\nconst net = () => tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3] }), tf.layers.dense({ units: 2 })] });\nconst source = net();\nawait writeCheckpoint('wrapped.pth', renameKeys(stateDictOf(source, { layout: 'torch' }), { addPrefix: 'module.' }));\nconst target = net();");
  const cell = await run(nb, "await loadStateDict(target, 'wrapped.pth', { warn: null })");
  const magic = await run(nb, '%load target wrapped.pth');
  const html = (o: Output[]) => joined(o.find((x) => x.data?.['text/html'])?.data?.['text/html']);
  for (const [what, out] of [['a cell', cell], ['%load', magic]] as const) {
    const h = html(out);
    assert.match(h, /class="tsfreeze-load"/, what);
    assert.match(h, /NOTHING was loaded/, what);
    assert.match(h, /<b>0<\/b> loaded.*<b>4<\/b> missing.*<b>4<\/b> unexpected/s, what);
    assert.match(h, /strip the prefix (&#39;|')module\.(&#39;|')/, `${what}: the suggestion on the report`);
  }
  assert.match(html(cell), /loadStateDict\(model, source, \{ rename: \{(&#34;|")stripPrefix/);
  assert.match(html(magic), /%load target wrapped\.pth --rename strip:module\./);

  const diff = await run(nb, "await diffKeys('wrapped.pth', target)");
  assert.match(html(diff), /class="tsfreeze-diffkeys"/);
  const frozen = await run(nb, "freeze(target, '0.*')");
  assert.match(html(frozen), /class="tsfreeze-freeze"/);
  assert.match(plain(frozen.find((o) => o.output_type === 'execute_result')), /^froze 2 tensors/);
  const summary = await run(nb, 'trainableSummary(target)');
  assert.match(html(summary), /class="tsfreeze-summary"/);
  const figure = await run(nb, 'parameterCountsFigure(target)');
  assert.ok(figure.some((o) => o.data?.[PLOTLY]), 'a figure shows as a plot');
  await nb.waitForFunction(() => document.querySelectorAll('.output_area .tsfreeze-plot.js-plotly-plot').length > 0, null, { timeout: 30_000 });
});

test('tracebacks give cell line numbers; a UsageError shows only its message', { timeout: 60_000 }, async () => {
  const out = await run(nb, "const before = 1;\nthrow new Error('boom on line 2');");
  const count = await nb.evaluate(() => { const cells = (window as unknown as JupyterWindow).Jupyter.notebook.get_cells(); return cells[cells.length - 1].input_prompt_number; });
  assert.equal(out[0]?.output_type, 'error');
  assert.ok(out[0].traceback!.some((l) => l.includes(`In[${count}]:2`)), out[0].traceback!.join('\n'));
  assert.ok(!out[0].traceback!.some((l) => l.includes('evalmachine')), out[0].traceback!.join('\n'));
  const nested = await run(nb, 'function fails(x: number) {\n  if (x > 0) {\n    throw new RangeError(`x is ${x}`);\n  }\n}\nfails(0);\nfails(3);');
  const n2 = await nb.evaluate(() => { const cells = (window as unknown as JupyterWindow).Jupyter.notebook.get_cells(); return cells[cells.length - 1].input_prompt_number; });
  const tb = nested[0].traceback!.join('\n');
  assert.match(tb, new RegExp(`at fails \\(In\\[${n2}\\]:3\\)`));
  assert.match(tb, new RegExp(`In\\[${n2}\\]:7`));
  for (const bad of ['%load model', '%diffkeys a b --limit zero']) {
    const usage = await run(nb, bad);
    assert.equal(usage[0]?.ename, 'UsageError', bad);
    assert.ok(!usage[0].traceback!.some((l) => /^\s+at /.test(l)), `${bad}:\n${usage[0].traceback!.join('\n')}`);
  }
});

test('interrupt stops a running cell and keeps the variables; restart clears them', { timeout: 120_000 }, async () => {
  await run(nb, 'let kept = 7;');
  const index = await nb.evaluate(() => {
    const n = (window as unknown as JupyterWindow).Jupyter.notebook;
    const cell = n.insert_cell_at_bottom('code');
    cell.set_text('let spins = 0;\nwhile (true) { spins++; }');
    cell.execute();
    return n.get_cells().length - 1;
  });
  await nb.waitForTimeout(1000);
  await menu(nb, 'kernellink', 'int_kernel');
  await finished(nb, [index], 30_000);
  const stopped = await outputsOf(nb, index);
  assert.equal(stopped[0]?.ename, 'KeyboardInterrupt', textOf(stopped));
  const alive = await run(nb, 'kept * 6');
  assert.equal(alive[0]?.data?.['text/plain'], '42');

  const restarted = nb.evaluate(() => new Promise<void>((res) => (window as unknown as JupyterWindow).Jupyter.notebook.events.one('kernel_ready.Kernel', res)));
  await menu(nb, 'kernellink', 'restart_kernel');
  await nb.click('.modal-footer button.btn-danger');
  await restarted;
  const gone = await run(nb, 'kept');
  assert.equal(gone[0]?.ename, 'CompileError', textOf(gone));
  assert.match(textOf(gone), /Cannot find name 'kept'/);
});

test('save and reopen keeps the outputs', { timeout: 60_000 }, async () => {
  const saved = nb.evaluate(() => new Promise<void>((res) => (window as unknown as JupyterWindow).Jupyter.notebook.events.one('notebook_saved.Notebook', res)));
  await menu(nb, 'filelink', 'save_checkpoint');
  await saved;
  const path = await nb.evaluate(() => (window as unknown as JupyterWindow).Jupyter.notebook.notebook_path);
  const onDisk = JSON.parse(readFileSync(join(server.root, path), 'utf8')) as { cells: Array<{ outputs?: Output[] }> };
  assert.equal(plain(onDisk.cells[0].outputs?.[0]), '42');
  await nb.reload();
  await ready(nb);
  assert.equal(plain(await nb.evaluate(() => JSON.parse(JSON.stringify((window as unknown as JupyterWindow).Jupyter.notebook.get_cell(0).output_area.outputs[0])) as Output)), '42');
  await nb.close();
});

/** Plot outputs on the page: how many, and how many plotly.js drew. */
function plots(page: Page): Promise<{ outputs: number; drawn: number }> {
  return page.evaluate(() => ({
    outputs: document.querySelectorAll('.output_area .tsfreeze-plot').length,
    drawn: document.querySelectorAll('.output_area .tsfreeze-plot.js-plotly-plot').length,
  }));
}

test('Run All of the flagship; plot cells re-run three times, saved, reopened trusted: every plot is interactive', { timeout: 300_000 }, async (t) => {
  const dir = join(server.root, 'flagship');
  mkdirSync(dir);
  copyFileSync(join(REPO, 'notebooks', `${FLAGSHIP}.ipynb`), join(dir, `${FLAGSHIP}.ipynb`));
  cpSync(join(REPO, 'notebooks', 'data'), join(dir, 'data'), { recursive: true });
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${server.url}notebooks/flagship/${FLAGSHIP}.ipynb?token=${server.token}`);
  await ready(page);
  const t0 = performance.now();
  await menu(page, 'celllink', 'run_all_cells');
  await finished(page, undefined, 240_000);
  t.diagnostic(`Run All of the flagship: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const cells = await page.evaluate(() => (window as unknown as JupyterWindow).Jupyter.notebook.get_cells().map((c) => ({ type: c.cell_type, text: c.get_text(), outputs: JSON.parse(JSON.stringify(c.output_area?.outputs ?? [])) as Output[] })));
  const errors = cells.flatMap((c, i) => c.outputs.filter((o) => o.output_type === 'error').map((o) => `cell ${i}: ${o.ename}: ${(o.traceback ?? []).join('\n')}`));
  assert.deepEqual(errors, []);
  const plotCells = cells.flatMap((c, i) => (c.outputs.some((o) => o.data?.[PLOTLY]) && c.text.trim().startsWith('%') ? [i] : []));
  assert.ok(plotCells.length >= 3, `plot cells: ${plotCells.join(', ')}`);
  for (let round = 0; round < 3; round++) {
    await page.evaluate((idx) => (window as unknown as JupyterWindow).Jupyter.notebook.execute_cells(idx), plotCells);
    await finished(page, plotCells, 120_000);
  }
  const allDrawn = () => page.waitForFunction(() => document.querySelectorAll('.output_area .tsfreeze-plot').length > 0 && document.querySelectorAll('.output_area .tsfreeze-plot:not(.js-plotly-plot)').length === 0, null, { timeout: 30_000 }).catch(() => undefined);
  await allDrawn();
  const live = await plots(page);
  assert.equal(live.drawn, live.outputs, `drawn in the session: ${JSON.stringify(live)}`);

  const saved = page.evaluate(() => new Promise<void>((res) => (window as unknown as JupyterWindow).Jupyter.notebook.events.one('notebook_saved.Notebook', res)));
  await menu(page, 'filelink', 'save_checkpoint');
  await saved;
  const file = join(dir, `${FLAGSHIP}.ipynb`);
  const bytes = statSync(file).size;
  const keep = join(artifactDir(), 'clients');
  mkdirSync(keep, { recursive: true });
  copyFileSync(file, join(keep, `${FLAGSHIP}.saved.ipynb`));
  t.diagnostic(`saved flagship after three re-runs: ${(bytes / 1e6).toFixed(2)} MB (${bytes} bytes)`);
  const onDisk = JSON.parse(readFileSync(file, 'utf8')) as { cells: Array<{ outputs?: Output[] }> };
  const savedPlots = onDisk.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.data?.[PLOTLY]).length;

  await page.reload();
  await ready(page);
  assert.equal(await page.evaluate(() => (window as unknown as JupyterWindow).Jupyter.notebook.trusted), true, 'the notebook saved in this session opens trusted');
  await allDrawn();
  const reopened = await plots(page);
  assert.equal(reopened.outputs, savedPlots, 'every saved plot output is on the page');
  assert.equal(reopened.drawn, reopened.outputs, `plots drawn after reopening: ${JSON.stringify(reopened)}`);
  await page.screenshot({ path: join(keep, `${FLAGSHIP}.reopened.png`), fullPage: false });
  await page.close();
  assert.deepEqual(pageErrors, []);
});

/** A notebook of `cells`, on the tsfreeze kernel. */
function notebook(cells: string[]): string {
  return JSON.stringify({
    nbformat: 4, nbformat_minor: 5,
    metadata: { kernelspec: { name: 'tsfreeze', display_name: 'TypeScript (tsfreeze)', language: 'typescript' } },
    cells: cells.map((source, i) => ({ cell_type: 'code', id: `c${i}`, metadata: {}, execution_count: null, outputs: [], source })),
  });
}

/** Executes `dir/name` with `jupyter nbconvert --execute` (cwd: its folder) and returns its cells' outputs. */
function nbconvert(dir: string, name: string): Output[][] {
  const r = spawnSync(PYTHON, ['-m', 'jupyter', 'nbconvert', '--to', 'notebook', '--execute', '--output', 'out.ipynb', name], { cwd: dir, env: server.prefix.env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `nbconvert failed:\n${r.stderr.slice(-3000)}`);
  return (JSON.parse(readFileSync(join(dir, 'out.ipynb'), 'utf8')) as { cells: Array<{ outputs: Output[] }> }).cells.map((c) => c.outputs);
}

test('nbconvert --execute: a notebook in an empty folder gets tsfreeze and TF.js from the kernel; a folder with its own package gets its own', { timeout: 180_000 }, () => {
  const empty = mkdtempSync(join(tmpdir(), 'tsfreeze-nbconvert-'));
  const own = mkdtempSync(join(tmpdir(), 'tsfreeze-nbconvert-own-'));
  try {
    writeFileSync(join(empty, 'nb.ipynb'), notebook([
      "import * as tf from '@tensorflow/tfjs';\nimport { stateDictOf } from 'tsfreeze';\nconst m = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });\n[...stateDictOf(m).keys()].join(' ')",
      "const n: number = stateDictOf(m).size;\nn",
    ]));
    const outs = nbconvert(empty, 'nb.ipynb');
    const all = outs.flat();
    assert.deepEqual(all.filter((o) => o.output_type === 'error'), []);
    assert.deepEqual(all.filter((o) => o.output_type === 'execute_result').map(plain), ['0.kernel 0.bias', '2']);
    assert.doesNotMatch(textOf(all), /already registered/);

    // The folder's own @tensorflow/tfjs (a stand-in package) wins over the kernel's, for the code and for its types.
    const pkg = join(own, 'node_modules', '@tensorflow', 'tfjs');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@tensorflow/tfjs', version: '0.0.0-test', main: 'index.js', types: 'index.d.ts' }));
    writeFileSync(join(pkg, 'index.js'), 'exports.whose = "the folder\'s own";\n');
    writeFileSync(join(pkg, 'index.d.ts'), 'export declare const whose: string;\n');
    writeFileSync(join(own, 'nb.ipynb'), notebook(["import * as tf from '@tensorflow/tfjs';\nconst w: string = tf.whose;\nw"]));
    const mine = nbconvert(own, 'nb.ipynb').flat();
    assert.deepEqual(mine.filter((o) => o.output_type === 'execute_result').map(plain), ["the folder's own"], textOf(mine));
  } finally {
    rmSync(empty, { recursive: true, force: true });
    rmSync(own, { recursive: true, force: true });
  }
});
