/**
 * `tsfreeze run` as a user runs it: the tsfreeze kernel over ZeroMQ (no Python involved), the
 * reference ipykernel through --kernel-cmd, failures, timeouts, signals, and no kernel left behind.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { chromiumPath } from '../../lib/plot/svg';
import { parseRunArgs } from '../../kernel/commands/run';
import { CLI, ROOT } from '../helpers/cli';
import { PYTHON, processGone, requirePython, waitUntil } from '../helpers/jupyter';

// Inside the repository, so that notebooks can import 'tsfreeze' (node_modules/tsfreeze links to it).
const ARTIFACTS = join(ROOT, 'test', '.artifacts');
mkdirSync(ARTIFACTS, { recursive: true });
const dir = mkdtempSync(join(ARTIFACTS, 'run-'));
// Each run leaves ~2 MB of pages; TSFREEZE_KEEP_ARTIFACTS=1 keeps them to look at.
after(() => { if (!process.env.TSFREEZE_KEEP_ARTIFACTS) rmSync(dir, { recursive: true, force: true }); });

type Cell = string | { md: string } | { code: string; tags: string[] };

function notebook(name: string, cells: Cell[]): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({
    nbformat: 4, nbformat_minor: 5,
    metadata: { kernelspec: { name: 'tsfreeze', display_name: 'TypeScript (tsfreeze)', language: 'typescript' } },
    cells: cells.map((c, i) => (typeof c === 'object' && 'md' in c
      ? { id: `c${i}`, cell_type: 'markdown', metadata: {}, source: c.md }
      : { id: `c${i}`, cell_type: 'code', metadata: typeof c === 'string' ? {} : { tags: c.tags }, source: typeof c === 'string' ? c : c.code, outputs: [{ output_type: 'stream', name: 'stdout', text: 'stale output\n' }], execution_count: 99 })),
  }));
  return path;
}

interface Ran { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; pid: number }

/** Runs the built CLI; `during` is called once it has started (to signal it). */
function tsfreezeRun(args: string[], during?: (pid: number) => Promise<void>): Promise<Ran> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm test does it)`);
  const child = spawn(process.execPath, [CLI, 'run', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b) => { stdout += b; });
  child.stderr.on('data', (b) => { stderr += b; });
  const done = new Promise<Ran>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, pid: child.pid! })));
  if (during) void during(child.pid!);
  return done;
}

function readNb(path: string) {
  return JSON.parse(readFileSync(path, 'utf8')) as { cells: Array<{ cell_type: string; execution_count: number | null; outputs: Array<Record<string, any>> }>; metadata: Record<string, any> };
}

function assertValid(path: string): void {
  const r = spawnSync(PYTHON, ['-c', 'import sys, nbformat; nbformat.validate(nbformat.read(sys.argv[1], 4))', path], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${path} is not a valid nbformat 4 notebook: ${r.stderr}`);
}

const kernelPidOf = (text: string) => Number(/KERNEL_PID=(\d+)/.exec(text)?.[1]);
const PID_CELL = "console.log(`KERNEL_PID=${process.pid} CWD=${process.cwd()}`);";

test('a TypeScript notebook runs through the tsfreeze kernel: outputs, counts, display updates, a plot, a valid notebook and an offline page', async () => {
  requirePython('nbformat');
  const nb = notebook('ok.ipynb', [
    { md: '# Run test\n\nA *markdown* cell with `code`.' },
    `${PID_CELL}\nprocess.stderr.write('warn\\n');\n6 * 7`,
    "for (let i = 1; i <= 3; i++) process.stdout.write(`step ${i}/3\\r`);\nconsole.log('done');",
    '',
    "import { displayHost, plotBundle, PlotSession } from 'tsfreeze';\nconst host = displayHost()!;\nhost.display({ data: { 'text/plain': 'v1' } }, { id: 'status' });",
    "host.display({ data: { 'text/plain': 'v2', 'text/html': '<b id=\"updated\">v2</b>' } }, { id: 'status', update: true });\nhost.display(plotBundle({ data: [{ type: 'scatter', x: [1, 2, 3], y: [2, 4, 8] }], layout: { title: { text: 'growth' } } }, { session: new PlotSession({ svg: false }) }));",
    { code: "throw new Error('shown, not fatal');", tags: ['raises-exception'] },
    "'still running'",
  ]);
  const out = join(dir, 'ok.out.ipynb');
  const html = join(dir, 'ok.html');
  const r = await tsfreezeRun([nb, '-o', out, '--html', html]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ran 6 code cells in \d+\.\d s; wrote .*ok\.out\.ipynb and .*ok\.html$/m);
  assertValid(out);
  const cells = readNb(out).cells;
  const code = cells.filter((c) => c.cell_type === 'code');
  assert.deepEqual(code.map((c) => c.execution_count), [1, 2, null, 3, 4, 5, 6], 'empty cells are skipped, the others counted');
  assert.deepEqual(code[0].outputs, [
    { output_type: 'stream', name: 'stdout', text: `KERNEL_PID=${kernelPidOf(code[0].outputs[0].text)} CWD=${dir}\n` },
    { output_type: 'stream', name: 'stderr', text: 'warn\n' },
    { output_type: 'execute_result', execution_count: 1, data: { 'text/plain': '42' }, metadata: {} },
  ], 'stdout, stderr and the result; the kernel runs in the notebook\'s folder');
  assert.deepEqual(code[1].outputs, [{ output_type: 'stream', name: 'stdout', text: 'done\n' }], 'carriage returns applied');
  assert.deepEqual(code[2].outputs, [], 'stale outputs of a skipped cell are cleared');
  assert.deepEqual(code[3].outputs, [{ output_type: 'display_data', data: { 'text/html': '<b id="updated">v2</b>', 'text/plain': 'v2' }, metadata: {} }], 'the later update_display_data replaced v1');
  assert.equal(code[4].outputs.length, 1);
  assert.deepEqual(code[4].outputs[0].data['application/vnd.plotly.v1+json'].data[0].y, [2, 4, 8]);
  assert.equal(code[5].outputs[0].output_type, 'error');
  assert.equal(code[5].outputs[0].evalue, 'shown, not fatal');
  assert.deepEqual(code[6].outputs[0].data, { 'text/plain': 'still running' });
  assert.equal(readNb(out).metadata.language_info.name, 'typescript');
  assert.ok(await waitUntil(() => processGone(kernelPidOf(code[0].outputs[0].text)), 3000), 'the kernel is gone after the run');

  // The page draws everything with the network off.
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] }).catch((e: Error) => {
    throw new Error(`the HTML check needs Chromium at ${chromiumPath()} (scripts/ensure-deps.sh installs it; TSFREEZE_CHROMIUM overrides): ${e.message.split('\n')[0]}`);
  });
  try {
    const page = await (await browser.newContext({ offline: true })).newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('requestfailed', (q) => errors.push(`request ${q.url()}`));
    await page.goto(`file://${html}`);
    await page.waitForSelector('.js-plotly-plot .scatterlayer .trace', { timeout: 15_000 });
    assert.equal(await page.locator('h1').first().textContent(), 'Run test');
    assert.equal(await page.locator('#updated').textContent(), 'v2');
    assert.match((await page.locator('.output.error').textContent()) ?? '', /shown, not fatal/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('a failing cell: exit 1 naming the cell and the error, outputs so far saved in both files, later cells empty, no kernel left', async () => {
  const nb = notebook('fail.ipynb', [{ md: '# Fails' }, PID_CELL, "console.log('before');\nthrow new TypeError('boom: bad shape')", "console.log('never')"]);
  const out = join(dir, 'fail.out.ipynb');
  const html = join(dir, 'fail.html');
  const r = await tsfreezeRun([nb, '-o', out, '--html', html]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^tsfreeze run: cell 3 of 4 \("console\.log\('before'\);"\) failed: TypeError: boom: bad shape$/m);
  assert.match(r.stdout, /ran 2 code cells .* before stopping; wrote the outputs so far to .*fail\.out\.ipynb and .*fail\.html/);
  assertValid(out);
  const code = readNb(out).cells.filter((c) => c.cell_type === 'code');
  assert.deepEqual(code[1].outputs.map((o) => o.output_type), ['stream', 'error']);
  assert.equal(code[1].outputs[0].text, 'before\n');
  assert.equal(code[1].outputs[1].ename, 'TypeError');
  assert.deepEqual([code[2].outputs, code[2].execution_count], [[], null]);
  const page = readFileSync(html, 'utf8');
  assert.match(page, /This run stopped early: cell 3 of 4 .* failed: TypeError: boom: bad shape/);
  assert.match(page, /class="cell code failed"/);
  assert.ok(await waitUntil(() => processGone(kernelPidOf(code[0].outputs[0].text)), 3000), 'the kernel is gone');
});

test('--timeout stops a cell that runs too long (exit 1, "timed out"), and the kernel is ended', async () => {
  const nb = notebook('slow.ipynb', [PID_CELL, 'while (true) {}', "'unreached'"]);
  const out = join(dir, 'slow.out.ipynb');
  const t0 = Date.now();
  const r = await tsfreezeRun([nb, '-o', out, '--no-html', '--timeout', '1.5']);
  assert.equal(r.code, 1);
  assert.ok(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms`);
  assert.match(r.stderr, /tsfreeze run: cell 2 of 3 \("while \(true\) \{\}"\) timed out: CellTimeout: the cell ran longer than 1\.5 s \(--timeout\)/);
  assert.ok(!existsSync(join(dir, 'slow.html')), '--no-html writes no page');
  const code = readNb(out).cells;
  assert.equal(code[1].outputs.at(-1)?.ename, 'CellTimeout');
  assert.ok(await waitUntil(() => processGone(kernelPidOf(code[0].outputs[0].text)), 5000), 'a kernel stuck in a loop is killed');
});

async function stopDuringCell(signal: NodeJS.Signals): Promise<{ r: Ran; kernelPid: number; out: string }> {
  const pidFile = join(dir, `kernel-${signal}.pid`);
  const nb = notebook(`sig-${signal}.ipynb`, [
    "console.log('first cell ran');",
    `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));\nawait new Promise((r) => setTimeout(r, 60_000));`,
  ]);
  const out = join(dir, `sig-${signal}.out.ipynb`);
  const r = await tsfreezeRun([nb, '-o', out, '--html', join(dir, `sig-${signal}.html`)], async (pid) => {
    assert.ok(await waitUntil(() => existsSync(pidFile), 30_000), 'the second cell started');
    process.kill(pid, signal);
  });
  return { r, kernelPid: Number(readFileSync(pidFile, 'utf8')), out };
}

test('SIGTERM to the runner: outputs so far saved, the runner ends by that signal, the kernel dies', async () => {
  const { r, kernelPid, out } = await stopDuringCell('SIGTERM');
  assert.equal(r.signal, 'SIGTERM', `exit ${r.code}: ${r.stderr}`);
  const cells = readNb(out).cells;
  assert.equal(cells[0].outputs[0].text, 'first cell ran\n');
  assert.equal(cells[1].outputs.at(-1)?.ename, 'Aborted');
  assert.ok(await waitUntil(() => processGone(kernelPid), 5000), `kernel ${kernelPid} is gone`);
});

test('SIGKILL to the runner: the kernel still dies', async () => {
  const { r, kernelPid } = await stopDuringCell('SIGKILL');
  assert.equal(r.signal, 'SIGKILL');
  assert.ok(await waitUntil(() => processGone(kernelPid), 5000), `kernel ${kernelPid} is gone`);
});

test('the reference kernel through --kernel-cmd: display updates across cells, clear_output, images, a valid notebook', async () => {
  requirePython('ipykernel', 'nbformat');
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
  const nb = notebook('py.ipynb', [
    "import os\nfrom IPython.display import display, HTML, Image, clear_output\nh = display(HTML('<i>v1</i>'), display_id=True)\nprint('KERNEL_PID=%d' % os.getpid())",
    "h.update(HTML('<i>v2</i>'))\nprint('gone'); clear_output(wait=True); print('kept')",
    `import base64\nImage(data=base64.b64decode('${png}'), format='png')`,
  ]);
  const out = join(dir, 'py.out.ipynb');
  const html = join(dir, 'py.html');
  const r = await tsfreezeRun([nb, '-o', out, '--html', html, '--kernel-cmd', PYTHON, '-m', 'ipykernel_launcher', '-f', '{connection_file}']);
  assert.equal(r.code, 0, r.stderr);
  assertValid(out);
  const code = readNb(out).cells;
  assert.equal(code[0].outputs[0].data['text/html'], '<i>v2</i>');
  assert.deepEqual(code[1].outputs, [{ output_type: 'stream', name: 'stdout', text: 'kept\n' }]);
  assert.equal(code[2].outputs[0].data['image/png'].replace(/\s/g, ''), png);
  assert.equal(readNb(out).metadata.language_info.name, 'python');
  const page = readFileSync(html, 'utf8');
  assert.ok(page.includes(`src="data:image/png;base64,${png}"`));
  assert.doesNotMatch(page, /plotly\.js v/, 'no figure, no plotly.js');
  assert.ok(await waitUntil(() => processGone(kernelPidOf(code[0].outputs[1].text)), 3000), 'the kernel is gone');
});

test('arguments: defaults beside the notebook, --kernel-cmd takes the rest, mistakes explained', async () => {
  const a = parseRunArgs(['nb/a.ipynb']);
  assert.match(a.output, /nb\/a\.executed\.ipynb$/);
  assert.match(a.html!, /nb\/a\.html$/);
  assert.equal(a.timeout, null);
  const b = parseRunArgs(['a.ipynb', '--timeout', '2.5', '--no-html', '--kernel-cmd', 'python3', '-m', 'ipykernel_launcher', '-f', '{connection_file}']);
  assert.deepEqual([b.timeout, b.html, b.kernelCmd], [2.5, null, ['python3', '-m', 'ipykernel_launcher', '-f', '{connection_file}']]);
  assert.throws(() => parseRunArgs([]), /expected 1 argument \(the notebook\), got 0/);
  assert.throws(() => parseRunArgs(['a.ipynb', '--timeout', '0']), /--timeout must be a positive number of seconds/);
  assert.throws(() => parseRunArgs(['a.ipynb', '--kernel', 'python3', '--kernel-cmd', 'k', '{connection_file}']), /either --kernel NAME or --kernel-cmd/);
  assert.throws(() => parseRunArgs(['a.ipynb', '--kernel-cmd', 'k', '-f']), /must contain \{connection_file\}/);
  const usage = await tsfreezeRun(['--bogus']);
  assert.equal(usage.code, 1);
  assert.match(usage.stderr, /tsfreeze run: Unknown option '--bogus'[\s\S]*usage: tsfreeze/);
  const missing = await tsfreezeRun([join(dir, 'missing.ipynb')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /tsfreeze run: cannot read notebook .*missing\.ipynb: ENOENT/);
  const unknown = await tsfreezeRun([notebook('k.ipynb', ['1']), '--kernel', 'no-such-kernel']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /could not start the kernel: no Jupyter kernel named 'no-such-kernel' \(installed: /);
});
