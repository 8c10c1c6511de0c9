/** Shared pieces for tests that talk to Jupyter kernels and Python's Jupyter tools. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian's Python, which has jupyter_client, ipykernel, nbformat and nbclient (not the `python3` on PATH). */
export const PYTHON = '/usr/bin/python3';

/** Fails with a clear message when Debian's Python or one of its modules is missing. */
export function requirePython(...modules: string[]): void {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run scripts/ensure-deps.sh`);
  for (const m of modules) {
    const r = spawnSync(PYTHON, ['-c', `import ${m}`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${PYTHON} cannot import ${m}: run scripts/ensure-deps.sh (${r.stderr.trim().split('\n').pop()})`);
  }
}
