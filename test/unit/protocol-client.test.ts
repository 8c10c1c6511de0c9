/** The Node Jupyter client against the reference kernel (Debian's ipykernel): kernelspecs, execute, interrupt, timeouts, death, cleanup. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelClient, KernelDiedError, KernelTimeoutError } from '../../kernel/protocol/client';
import { findKernelSpec, jupyterDataDirs, listKernelSpecs } from '../../kernel/protocol/kernelspec';
import { PYTHON, processGone, requirePython, waitUntil } from '../helpers/jupyter';

const IPYKERNEL = [PYTHON, '-m', 'ipykernel_launcher', '-f', '{connection_file}'];
let kernel: KernelClient;

before(async () => {
  requirePython('ipykernel');
  kernel = await KernelClient.start({ argv: IPYKERNEL });
});
after(async () => { await kernel?.close(); });

test('kernelspecs: JUPYTER_PATH first, names case-insensitive, ${VAR} in env filled in, unknown names list what exists', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsfreeze-specs-'));
  const make = (root: string, name: string, spec: Record<string, unknown>) => {
    mkdirSync(join(root, 'kernels', name), { recursive: true });
    writeFileSync(join(root, 'kernels', name, 'kernel.json'), JSON.stringify(spec));
  };
  make(join(dir, 'a'), 'Demo', { argv: ['demo-a', '{connection_file}'], display_name: 'Demo A', language: 'x', env: { HOME_COPY: '${HOME}/x' }, interrupt_mode: 'message' });
  make(join(dir, 'b'), 'demo', { argv: ['demo-b'], display_name: 'Demo B', language: 'x' });
  make(join(dir, 'b'), 'broken', { argv: 'not a list' });
  const env = { HOME: '/home/h', JUPYTER_PATH: [join(dir, 'a'), join(dir, 'b')].join(':'), JUPYTER_DATA_DIR: join(dir, 'user') };
  assert.deepEqual(jupyterDataDirs(env).slice(0, 3), [join(dir, 'a'), join(dir, 'b'), join(dir, 'user')]);
  const spec = findKernelSpec('DEMO', env);
  assert.deepEqual([spec.argv[0], spec.display_name, spec.interrupt_mode, spec.env.HOME_COPY], ['demo-a', 'Demo A', 'message', '/home/h/x']);
  const all = listKernelSpecs(env);
  assert.equal(all.get('demo')?.display_name, 'Demo A');
  assert.ok(!all.has('broken'));
  assert.ok(all.has('python3'), 'the system python3 kernelspec (/usr/share/jupyter) is found');
  assert.throws(() => findKernelSpec('broken', env), /argv must be a non-empty list of strings/);
  assert.throws(() => findKernelSpec('nope', env), /no Jupyter kernel named 'nope' \(installed: .*demo.*python3/);
});

test('execute returns the reply and that request\'s outputs in order; counts go up; errors come back as error replies', async () => {
  const r = await kernel.execute('print("a")\nimport sys; print("b", file=sys.stderr)\n40 + 2');
  assert.equal(r.reply.content.status, 'ok');
  assert.deepEqual(r.outputs.map((m) => m.header.msg_type), ['stream', 'stream', 'execute_result']);
  assert.deepEqual(r.outputs.map((m) => (m.content as { text?: string }).text ?? (m.content as { data: Record<string, string> }).data['text/plain']), ['a\n', 'b\n', '42']);
  const n = r.reply.content.execution_count!;
  const e = await kernel.execute('raise KeyError("k")');
  assert.equal(e.reply.content.status, 'error');
  assert.equal(e.reply.content.ename, 'KeyError');
  assert.equal(e.reply.content.execution_count, n + 1);
  assert.deepEqual(e.outputs.map((m) => m.header.msg_type), ['error']);
  const quiet = await kernel.execute('x = 5', { silent: true });
  assert.equal(quiet.outputs.length, 0);
  assert.equal((await kernel.execute('x')).reply.content.execution_count, n + 2, 'silent code does not count');
  const info = await kernel.kernelInfo();
  assert.equal((info.content as { language_info: { name: string } }).language_info.name, 'python');
  assert.equal(await kernel.ping(), true);
  assert.deepEqual(kernel.wireErrors, []);
});

test('outputs go to the request they belong to when requests overlap', async () => {
  const [a, b] = await Promise.all([kernel.execute('import time; time.sleep(0.2); print("first")'), kernel.execute('print("second")')]);
  assert.deepEqual(a.outputs.map((m) => (m.content as { text: string }).text), ['first\n']);
  assert.deepEqual(b.outputs.map((m) => (m.content as { text: string }).text), ['second\n']);
});

test('a timeout rejects with KernelTimeoutError; interrupt (SIGINT) stops the running code', async () => {
  const t0 = Date.now();
  // stopOnError false: ipykernel would otherwise abort the requests that come right after the interrupted one.
  await assert.rejects(kernel.execute('import time; time.sleep(30)', { timeout: 300, stopOnError: false }), KernelTimeoutError);
  assert.ok(Date.now() - t0 < 2000);
  await kernel.interrupt();
  const after = await kernel.execute('"still alive"', { timeout: 10_000 });
  assert.equal(after.reply.content.status, 'ok');
  const running = kernel.execute('import time; time.sleep(30)', { timeout: 10_000, stopOnError: false });
  setTimeout(() => void kernel.interrupt(), 300);
  const r = await running;
  assert.equal(r.reply.content.ename, 'KeyboardInterrupt');
});

test('an abort signal stops waiting', async () => {
  const ac = new AbortController();
  const p = kernel.execute('import time; time.sleep(0.5)', { signal: ac.signal });
  ac.abort(new Error('stop'));
  await assert.rejects(p, /stop/);
  await kernel.execute('1', { timeout: 10_000 });
});

test('a second client connects by connection file; interrupt_request on control works', async () => {
  const other = await KernelClient.connect(kernel.connectionFile!);
  try {
    assert.equal((await other.execute('x * 2')).outputs.length, 1);
    const running = kernel.execute('import time; time.sleep(30)', { timeout: 10_000, stopOnError: false });
    await new Promise((r) => setTimeout(r, 300));
    await other.interrupt();
    assert.equal((await running).reply.content.ename, 'KeyboardInterrupt');
  } finally {
    await other.close();
  }
  assert.equal((await kernel.execute('1')).reply.content.status, 'ok', 'closing the second client leaves the kernel running');
});

test('a kernel that dies mid-cell rejects with KernelDiedError saying how; nothing is left running', async () => {
  const k = await KernelClient.start({ argv: IPYKERNEL });
  const pid = k.process!.pid;
  try {
    // (ipykernel forwards what it writes to fd 2 to iopub, so its last words are checked with a kernel that fails to start, below.)
    const died = await k.execute('import os; os._exit(3)', { timeout: 10_000 }).then(() => null, (e: unknown) => e);
    assert.ok(died instanceof KernelDiedError, String(died));
    assert.match(died.message, /^the kernel \(pid \d+\) exited with exit code 3/);
    await assert.rejects(k.execute('1'), KernelDiedError);
  } finally {
    await k.close();
  }
  assert.ok(processGone(pid));
});

test('close() ends a kernel this client started, with everything it started', async () => {
  const k = await KernelClient.start({ argv: IPYKERNEL });
  const pid = k.process!.pid;
  let child = 0;
  try {
    const r = await k.execute('import subprocess; p = subprocess.Popen(["sleep", "60"]); print(p.pid)');
    child = Number((r.outputs[0].content as { text: string }).text);
    assert.ok(child > 0);
  } finally {
    await k.close();
  }
  assert.ok(processGone(pid), 'the kernel is gone');
  assert.ok(await waitUntil(() => processGone(child), 3000), 'its child process is gone');
});

test('a kernel that cannot start is reported with its own output', async () => {
  await assert.rejects(KernelClient.start({ argv: [PYTHON, '-c', 'import sys; print("no such kernel here", file=sys.stderr); sys.exit(2)', '{connection_file}'] }), (e: unknown) => e instanceof KernelDiedError && /exit code 2/.test(e.message) && /no such kernel here/.test(e.message));
  await assert.rejects(KernelClient.start({ argv: [PYTHON, '-c', 'pass'] }), /must contain \{connection_file\}/);
  await assert.rejects(KernelClient.start({ argv: [PYTHON, '-c', 'import time; time.sleep(30)', '{connection_file}'], startupTimeout: 1500 }), KernelTimeoutError);
});
