/**
 * The transfer-learning magics (%diffkeys, %load, %rename, %freeze, %unfreeze, %checkfrozen,
 * %summary, %plot, %backend) through a real Jupyter client: magics_client.py starts the installed
 * kernel with jupyter_client and checks what each magic shows, defines and refuses.
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

test('magics through the kernel: load, diff, rename, freeze, train, check, summary, plot, backend, help, completion', { timeout: 180_000 }, () => {
  const r = spawnSync(PYTHON, ['-Xfrozen_modules=off', 'magics_client.py', '-v'], { cwd: __dirname, env: prefix.env, encoding: 'utf8', timeout: 170_000 });
  const tail = (r.stderr + r.stdout).split('\n').slice(-80).join('\n');
  assert.equal(r.status, 0, `magics_client.py failed:\n${tail}`);
  // Every test ran: a silent skip of the whole class would also exit 0.
  const ran = /Ran (\d+) tests/.exec(r.stderr);
  assert.ok(ran && Number(ran[1]) >= 14, `expected at least 14 tests to run:\n${tail}`);
});
