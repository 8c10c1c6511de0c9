/**
 * Debian's `jupyter console` (6.4) on the kernel, in a pseudo-terminal (console_pty.py): ten fresh
 * sessions, each with prompts In [1] then In [2], no warning (the console waits 1 s for the
 * start-up history and is_complete replies), and `exit`/`quit` ending the session.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { jupyterPrefix, type JupyterPrefix } from '../helpers/kernelspec';
import { PYTHON, requirePython } from '../helpers/jupyter';

let prefix: JupyterPrefix;

before(() => {
  requirePython('jupyter_console', 'pexpect');
  prefix = jupyterPrefix();
});
after(() => prefix?.remove());

test('ten fresh jupyter console sessions: prompts In [1], In [2], no warning, exit and quit end them', { timeout: 400_000 }, () => {
  const r = spawnSync(PYTHON, ['console_pty.py', '10'], { cwd: __dirname, env: prefix.env, encoding: 'utf8', timeout: 390_000 });
  const out = r.stdout + r.stderr;
  assert.equal(r.status, 0, `console sessions failed:\n${out.split('\n').slice(-60).join('\n')}`);
  assert.match(out, /10 of 10 sessions clean/);
});
