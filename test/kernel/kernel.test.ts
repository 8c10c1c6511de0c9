/**
 * The kernel through real Jupyter clients: `tsfreeze install` seen by `jupyter kernelspec list`,
 * Jupyter's own conformance tester (jupyter_kernel_test) plus protocol and magic tests in
 * kernel_conformance.py, a notebook executed by `jupyter nbconvert --execute`, and no orphan
 * kernel when the client that started it is killed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jupyterPrefix, CLI, type JupyterPrefix } from '../helpers/kernelspec';
import { PYTHON, requirePython } from '../helpers/jupyter';

let prefix: JupyterPrefix;

before(() => {
  requirePython('jupyter_client', 'jupyter_kernel_test', 'nbformat', 'nbconvert', 'nbclient');
  prefix = jupyterPrefix();
});
after(() => prefix?.remove());

test('tsfreeze install registers a kernelspec that jupyter lists, and --uninstall removes it', () => {
  const list = () => execFileSync('jupyter', ['kernelspec', 'list', '--json'], { env: prefix.env, encoding: 'utf8' });
  const specs = JSON.parse(list()).kernelspecs as Record<string, { resource_dir: string; spec: { display_name: string; language: string; argv: string[] } }>;
  assert.ok(specs.tsfreeze, 'tsfreeze is listed');
  assert.equal(specs.tsfreeze.spec.display_name, 'TypeScript (tsfreeze)');
  assert.equal(specs.tsfreeze.spec.language, 'typescript');
  assert.equal(specs.tsfreeze.spec.argv[0], process.execPath, 'the same node starts the kernel');
  assert.ok(specs.tsfreeze.resource_dir.startsWith(prefix.dir));
  const other = mkdtempSync(join(tmpdir(), 'tsfreeze-uninstall-'));
  const env = { ...prefix.env, JUPYTER_PATH: join(other, 'share', 'jupyter') };
  execFileSync(process.execPath, [CLI, 'install', '--prefix', other], { env });
  assert.ok(JSON.parse(execFileSync('jupyter', ['kernelspec', 'list', '--json'], { env, encoding: 'utf8' })).kernelspecs.tsfreeze);
  const out = execFileSync(process.execPath, [CLI, 'install', '--prefix', other, '--uninstall'], { env, encoding: 'utf8' });
  assert.match(out, /removed/);
  assert.equal(JSON.parse(execFileSync('jupyter', ['kernelspec', 'list', '--json'], { env, encoding: 'utf8' })).kernelspecs.tsfreeze, undefined);
});

test('protocol conformance: jupyter_kernel_test and the protocol/magic tests pass', { timeout: 240_000 }, () => {
  const r = spawnSync(PYTHON, ['-Xfrozen_modules=off', 'kernel_conformance.py', '-v'], { cwd: __dirname, env: prefix.env, encoding: 'utf8', timeout: 230_000 });
  const tail = (r.stderr + r.stdout).split('\n').slice(-60).join('\n');
  assert.equal(r.status, 0, `kernel_conformance.py failed:\n${tail}`);
  // Every test ran: a silent skip of the whole class would also exit 0.
  const ran = /Ran (\d+) tests/.exec(r.stderr);
  assert.ok(ran && Number(ran[1]) >= 25, `expected at least 25 tests to run:\n${tail}`);
});

test('jupyter nbconvert --execute runs a notebook on the kernel', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-nbconvert-'));
  const nb = {
    nbformat: 4, nbformat_minor: 5,
    metadata: { kernelspec: { name: 'tsfreeze', display_name: 'TypeScript (tsfreeze)', language: 'typescript' } },
    cells: [
      { cell_type: 'code', id: 'a', metadata: {}, execution_count: null, outputs: [], source: 'const xs: number[] = [1, 2, 3]\nconsole.log("sum", xs.reduce((a, b) => a + b))' },
      { cell_type: 'code', id: 'b', metadata: {}, execution_count: null, outputs: [], source: '%time xs.map(v => v * v)' },
    ],
  };
  writeFileSync(join(dir, 'in.ipynb'), JSON.stringify(nb));
  const r = spawnSync('jupyter', ['nbconvert', '--to', 'notebook', '--execute', '--output', 'out.ipynb', join(dir, 'in.ipynb')], { cwd: dir, env: prefix.env, encoding: 'utf8', timeout: 110_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(readFileSync(join(dir, 'out.ipynb'), 'utf8'));
  const [a, b] = out.cells;
  assert.equal(a.execution_count, 1);
  const text = (t: string | string[] | undefined) => ([] as string[]).concat(t ?? []).join('');
  assert.deepEqual(a.outputs.map((o: { name: string; text: string[] }) => [o.name, text(o.text)]), [['stdout', 'sum 6\n']]);
  assert.equal(b.execution_count, 2);
  const result = b.outputs.find((o: { output_type: string }) => o.output_type === 'execute_result');
  assert.equal(text(result.data['text/plain']), '[ 1, 4, 9 ]');
  assert.ok(b.outputs.some((o: { text?: string[] }) => /Wall time:/.test(text(o.text))));
});

/** Whether a process exists. */
function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

test('the kernel exits when the client that started it dies (no orphan)', { timeout: 60_000 }, async () => {
  const script = [
    'import sys, time',
    'from jupyter_client.manager import KernelManager',
    'km = KernelManager(kernel_name="tsfreeze")',
    'km.start_kernel()',
    'kc = km.client(); kc.start_channels(); kc.wait_for_ready(timeout=60)',
    'print(km.provisioner.process.pid, flush=True)',
    'time.sleep(600)',
  ].join('\n');
  const client = spawn(PYTHON, ['-c', script], { env: prefix.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = await new Promise<number>((resolve, reject) => {
    let out = '', err = '';
    client.stdout.on('data', (d) => { out += d; const m = /^(\d+)\n/.exec(out); if (m) resolve(Number(m[1])); });
    client.stderr.on('data', (d) => { err += d; });
    client.on('exit', (code) => reject(new Error(`client exited (${code}) before the kernel was ready: ${err}`)));
  });
  assert.ok(alive(pid), 'kernel running');
  client.kill('SIGKILL');
  const deadline = Date.now() + 10_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.equal(alive(pid), false, `kernel ${pid} still running 10 s after its client was killed`);
});

test('the kernelspec starts from any folder: no dependency on the cwd', () => {
  const spec = JSON.parse(readFileSync(join(prefix.dir, 'share', 'jupyter', 'kernels', 'tsfreeze', 'kernel.json'), 'utf8'));
  assert.ok(existsSync(spec.argv[1]), `${spec.argv[1]} exists`);
  assert.equal(spec.interrupt_mode, 'signal');
});
