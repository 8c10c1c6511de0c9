/**
 * `%name?` under `tsfreeze run`: the kernel answers help as a pager payload (as IPython does);
 * the runner keeps it as a display in the cell, as JupyterLab shows it, so the executed notebook
 * and its page hold the help instead of nothing.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, ROOT } from '../helpers/cli';

const ARTIFACTS = join(ROOT, 'test', '.artifacts');
mkdirSync(ARTIFACTS, { recursive: true });
const dir = mkdtempSync(join(ARTIFACTS, 'run-help-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('%diffkeys? and %load? print their help into the executed notebook and its HTML page', () => {
  const nb = join(dir, 'help.ipynb');
  const cells = ['%diffkeys?', '%load?', '1 + 1'];
  writeFileSync(nb, JSON.stringify({
    nbformat: 4, nbformat_minor: 5,
    metadata: { kernelspec: { name: 'tsfreeze', display_name: 'TypeScript (tsfreeze)', language: 'typescript' } },
    cells: cells.map((source, i) => ({ id: `c${i}`, cell_type: 'code', metadata: {}, source, outputs: [], execution_count: null })),
  }));
  const out = join(dir, 'help.out.ipynb');
  const html = join(dir, 'help.html');
  const r = spawnSync(process.execPath, [CLI, 'run', nb, '-o', out, '--html', html], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const executed = JSON.parse(readFileSync(out, 'utf8')) as { cells: Array<{ outputs: Array<{ output_type: string; data?: Record<string, string> }> }> };
  const [diffkeys, load, sum] = executed.cells.map((c) => c.outputs);
  assert.equal(diffkeys.length, 1);
  assert.equal(diffkeys[0].output_type, 'display_data');
  const help = diffkeys[0].data!['text/plain'];
  assert.match(help, /usage: %diffkeys A B \[--limit N\]/);
  assert.match(help, /Both sides are compared in one naming/);
  assert.match(load[0].data!['text/plain'], /usage: %load /);
  assert.deepEqual(sum[0].data, { 'text/plain': '2' });
  assert.match(readFileSync(html, 'utf8'), /usage: %diffkeys A B/);
});
