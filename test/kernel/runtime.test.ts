/**
 * The kernel under interrupts, faults and load, through Debian's jupyter_client
 * (runtime_client.py): interrupts after a plot and during train(), SIGTERM, process.exit() in a
 * cell, uncaught exceptions and rejections with the wasm backend, the heartbeat while a cell
 * computes, 2,000 displays, aborted replies and exit/quit as ipykernel gives them; and a busy
 * kernel whose client is SIGKILLed exits by itself.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { jupyterPrefix, type JupyterPrefix } from '../helpers/kernelspec';
import { PYTHON, processGone, requirePython, waitUntil } from '../helpers/jupyter';

let prefix: JupyterPrefix;

before(() => {
  requirePython('jupyter_client', 'zmq', 'ipykernel');
  prefix = jupyterPrefix();
});
after(() => prefix?.remove());

test('interrupts, SIGTERM, process.exit, uncaught errors, heartbeat and load through jupyter_client', { timeout: 300_000 }, () => {
  const r = spawnSync(PYTHON, ['-Xfrozen_modules=off', 'runtime_client.py', '-v'], { cwd: __dirname, env: prefix.env, encoding: 'utf8', timeout: 290_000 });
  const tail = (r.stderr + r.stdout).split('\n').slice(-80).join('\n');
  for (const line of r.stdout.split('\n')) if (line.startsWith('MEASURE ')) console.log(line);
  assert.equal(r.status, 0, `runtime_client.py failed:\n${tail}`);
  const ran = /Ran (\d+) tests/.exec(r.stderr);
  assert.ok(ran && Number(ran[1]) >= 10, `expected at least 10 tests to run:\n${tail}`);
});

test('a busy kernel exits within 3 s after its client is SIGKILLed', { timeout: 60_000 }, async () => {
  const script = [
    'import time',
    'from jupyter_client.manager import KernelManager',
    'km = KernelManager(kernel_name="tsfreeze")',
    'km.start_kernel()',
    'kc = km.client(); kc.start_channels(); kc.wait_for_ready(timeout=60)',
    // A first cell to the end (the compiler is built), then one that never ends.
    'kc.execute_interactive("1", timeout=60, output_hook=lambda m: None)',
    'kc.execute("while (true) {}")',
    'time.sleep(1)',
    'print("PID", km.provisioner.process.pid, flush=True)',
    'time.sleep(600)',
  ].join('\n');
  const client = spawn(PYTHON, ['-c', script], { env: prefix.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = await new Promise<number>((resolve, reject) => {
    let out = '', err = '';
    client.stdout.on('data', (d) => { out += d; const m = /^PID (\d+)\n/m.exec(out); if (m) resolve(Number(m[1])); });
    client.stderr.on('data', (d) => { err += d; });
    client.on('exit', (code) => reject(new Error(`client exited (${code}) before the kernel was busy: ${err}`)));
  });
  try {
    assert.equal(processGone(pid), false, 'kernel running');
    const t0 = Date.now();
    client.kill('SIGKILL');
    const exited = await waitUntil(() => processGone(pid), 3000);
    console.log(`MEASURE orphan_exit_ms ${Date.now() - t0}`);
    assert.ok(exited, `busy kernel ${pid} still running 3 s after its client was killed`);
  } finally {
    if (!processGone(pid)) process.kill(pid, 'SIGKILL');
  }
});
