/**
 * A soak of the kernel through jupyter_client (soak_client.py): 200 cells, a fifth of them
 * train() runs with the live view, the rest printing, displaying, computing, failing and magics,
 * sent 25 at a time with completion, inspection, is_complete, kernel_info and history requests
 * between them: every request gets exactly one reply and every cell its outputs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { jupyterPrefix, type JupyterPrefix } from '../helpers/kernelspec';
import { PYTHON, requirePython } from '../helpers/jupyter';

let prefix: JupyterPrefix;

before(() => {
  requirePython('jupyter_client');
  prefix = jupyterPrefix();
});
after(() => prefix?.remove());

test('soak: 200 cells with train() and live plots, every request answered', { timeout: 600_000 }, () => {
  const r = spawnSync(PYTHON, ['-Xfrozen_modules=off', 'soak_client.py', '200'], { cwd: __dirname, env: prefix.env, encoding: 'utf8', timeout: 590_000 });
  const out = r.stdout + r.stderr;
  for (const line of r.stdout.split('\n')) if (line.startsWith('MEASURE ')) console.log(line);
  assert.equal(r.status, 0, `soak failed:\n${out.split('\n').slice(-60).join('\n')}`);
  assert.match(r.stdout, /\d+ requests, 0 problems/);
});
